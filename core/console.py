"""Terminal output for the `cim` command: progress bars and results as text or one JSON object."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Advance = Callable[[int], None]
Report = Callable[[str, float], None]

err_console = Console(stderr=True)


def _ignore(n: int = 1) -> None:
    """Progress nobody is shown."""


@contextmanager
def _bar(description: str, total: int | None, stage: bool = False) -> Iterator[Callable[..., None] | None]:
    """A bar's ``update(**fields)`` on stderr, ``stage``: the stage beside it; None when not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if stage:
        columns.append(TextColumn("{task.fields[stage]}", markup=False))
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total, stage="")
        yield lambda **fields: bar.update(task, **fields)


@contextmanager
def progress(description: str, total: int | None = None, *, enabled: bool = True) -> Iterator[Advance]:
    """A progress bar on stderr (quiet when disabled or not a terminal); yields ``advance(n)``."""
    if not enabled:
        yield _ignore
        return
    with _bar(description, total) as update:
        if update is None:
            yield _ignore
            return

        def advance(n: int = 1) -> None:
            update(advance=n)

        yield advance


@contextmanager
def percent_progress(description: str, *, enabled: bool = True) -> Iterator[Report]:
    """A 0-100 progress bar fed by the jobs' ``report(stage, percent)`` callbacks, the stage beside it
    (quiet when disabled or not a terminal)."""
    if not enabled:
        yield lambda stage, percent: None
        return
    with _bar(description, 100, stage=True) as update:
        done = 0.0

        def report(stage: str, percent: float) -> None:
            nonlocal done
            done = max(done, percent)
            if update is not None:
                update(completed=int(done), stage=stage)

        yield report


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Print a command's result: one JSON object with ``--json``, else ``key: value`` lines."""
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
        return
    for key, value in result.items():
        text = json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, dict | list) else value
        sys.stdout.write(f"{key}: {text}\n")

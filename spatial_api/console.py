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

err_console = Console(stderr=True)


@contextmanager
def progress(description: str, total: int | None = None, *, enabled: bool = True) -> Iterator[Advance]:
    """A progress bar on stderr (quiet when disabled or not a terminal); yields ``advance(n)``."""
    if not enabled or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Print a command's result: one JSON object with ``--json``, else ``key: value`` lines."""
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
        return
    for key, value in result.items():
        text = json.dumps(value, ensure_ascii=False, default=str) if isinstance(value, dict | list) else value
        sys.stdout.write(f"{key}: {text}\n")

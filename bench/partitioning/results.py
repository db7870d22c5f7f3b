"""RESULTS.md of bench/partitioning: one section per bench, each written again by its own run."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, heading: str, lines: list[str]) -> None:
    """Put ``lines`` (starting with the ``heading`` line) in place of the file's section under ``heading``
    (up to the next top-level heading), or after the other sections when it has none yet."""
    old = path.read_text().splitlines() if path.exists() else []
    start = old.index(heading) if heading in old else len(old)
    end = next((i for i in range(start + 1, len(old)) if old[i].startswith("# ")), len(old))
    before = old[:start]
    if before and before[-1] != "":
        before.append("")
    path.write_text("\n".join([*before, *lines, *old[end:]]).rstrip("\n") + "\n")

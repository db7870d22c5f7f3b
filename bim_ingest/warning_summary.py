"""Warnings summarised for people: a count per kind and IFC class with a few examples, instead of
one line per element (a large model can bring thousands)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

EXAMPLES = 3
_IFC_CLASS = re.compile(r"\bIfc[A-Z][A-Za-z0-9]*")


def kind_of(warning: str) -> str:
    """The warning's kind: its text before the first colon (the whole text when short)."""
    head = warning.split(":", 1)[0].strip()
    return head if len(head) <= 60 else head[:57] + "..."


def summarise(warnings: list[str]) -> dict[str, Any]:
    """{"total", "kinds": [{"kind", "ifc_class", "count", "examples"}]}, the largest groups first."""
    groups: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for warning in warnings:
        found = _IFC_CLASS.search(warning.split(":", 1)[-1])
        groups[(kind_of(warning), found.group(0) if found else None)].append(warning)
    largest_first = sorted(groups.items(), key=lambda g: (-len(g[1]), g[0][0], g[0][1] or ""))
    kinds = [
        {"kind": kind, "ifc_class": ifc_class, "count": len(items), "examples": items[:EXAMPLES]}
        for (kind, ifc_class), items in largest_first
    ]
    return {"total": len(warnings), "kinds": kinds}

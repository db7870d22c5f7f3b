"""An export's headings: each column's Chinese (and English) name and its coded values' labels, given
by the source (the layer registry's properties and vocabularies, the search kinds, the profiles'
labels). ``headers`` says what a file carries: ``zh`` Chinese names and values; ``zh+en`` the same
with the English names in a second header row (a GeoPackage, one name per column, takes the Chinese);
``field`` the field names and codes as stored, for other systems."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.vocab import Label, get

Headers = Literal["zh", "zh+en", "field"]
HEADERS: tuple[str, ...] = ("zh", "zh+en", "field")
GEOMETRY = "_wkb"
GEOMETRY_LABEL = Label(zh="几何（WKT）", en="Geometry (WKT)")


@dataclass(frozen=True)
class Labels:
    """Column name → its label; column name → {code: label} of its values."""

    columns: dict[str, Label] = field(default_factory=dict)
    values: dict[str, dict[str, Label]] = field(default_factory=dict)


def vocabulary(*names: str) -> dict[str, Label]:
    """The labels of one or more vocabularies' codes (the first naming a code wins)."""
    out: dict[str, Label] = {}
    for name in names:
        for term in get(name).entries:
            out.setdefault(term.code, term.label)
    return out


def _field_name(column: str) -> str:
    return "wkt" if column == GEOMETRY else column


def _label(column: str, labels: Labels) -> Label:
    if column == GEOMETRY:
        return GEOMETRY_LABEL
    return labels.columns.get(column) or Label(zh=column, en=column)


def header_rows(columns: Sequence[str], labels: Labels, headers: Headers, one_row: bool = False) -> list[list[str]]:
    """The header row(s) of a table; Chinese names that repeat get their field name beside them."""
    if headers == "field":
        return [[_field_name(c) for c in columns]]
    found = [_label(c, labels) for c in columns]
    zh = [label.zh for label in found]
    zh = [f"{name}（{_field_name(c)}）" if zh.count(name) > 1 else name for name, c in zip(zh, columns, strict=True)]
    if headers == "zh+en" and not one_row:
        return [zh, [label.en for label in found]]
    return [zh]


def value_maps(columns: Sequence[str], labels: Labels, headers: Headers) -> list[dict[str, str] | None]:
    """Per column, code → the Chinese label its values are written as (None: as they are)."""
    if headers == "field":
        return [None] * len(columns)
    return [{code: label.zh for code, label in labels.values[c].items()} if c in labels.values else None
            for c in columns]  # fmt: skip


def translate(batch: Sequence[Sequence[Any]], maps: list[dict[str, str] | None]) -> Sequence[Sequence[Any]]:
    """A batch with its coded values as their labels (codes no vocabulary knows stay as they are)."""
    if not any(maps) or not batch:
        return batch
    columns = [list(c) for c in zip(*batch, strict=True)]
    for at, mapping in enumerate(maps):
        if mapping:
            columns[at] = [mapping.get(v, v) if isinstance(v, str) else v for v in columns[at]]
    return list(zip(*columns, strict=True))

"""Each kind of record declared as data (``kinds.json``): its table, natural key, fields with types,
enumerations and references. The importer and the write API both validate through these specs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

from sqlalchemy import Column, Numeric, String

from core.errors import NotFound
from core.models import Base
from core.models.history import VERSION_COLUMNS
from records import vocab
from records.effects import EFFECTS

KINDS_FILE = Path(__file__).with_name("kinds.json")
GEOMETRY_TYPES = ("point", "pointz", "polygon")


@dataclass(frozen=True)
class Ref:
    """A reference to ``table.column``; with ``by``, the target depends on that field's value."""

    targets: dict[str | None, tuple[str, str]]
    by: str | None = None

    def target(self, values: dict) -> tuple[str, str] | None:
        return self.targets.get(values.get(self.by) if self.by else None)


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    enum: str | None = None
    ref: Ref | None = None
    columns: dict[str, str] = field(default_factory=dict)  # output role -> column (id_number, phone, masked_name)
    derive: dict | None = None  # a value made from another column when the input gives none
    max_length: int | None = None
    digits: int | None = None  # integer digits a NUMERIC column holds
    required: bool = False

    @property
    def outputs(self) -> tuple[str, ...]:
        """The table columns this field writes."""
        return tuple(self.columns.values()) if self.columns else (self.name,)


@dataclass(frozen=True)
class Kind:
    name: str
    label: tuple[str, str]
    table: str
    key: tuple[str, ...]  # the columns that address a record (URLs, versions)
    match: tuple[str, ...]  # the columns an import upserts by (the natural key)
    fields: dict[str, Field]
    soft_delete: bool = False
    link: bool = False
    effects: tuple[str, ...] = ()  # records.effects run after a change

    @cached_property
    def key_fields(self) -> frozenset[str]:
        """Fields whose failure counts against the key-field pass rate: the keys and the references."""
        keys = set(self.match + self.key)
        return frozenset(f.name for f in self.fields.values() if set(f.outputs) & keys or f.ref is not None)

    def column_of(self, output: str) -> Column:
        return Base.metadata.tables[self.table].c[output]

    @property
    def columns(self) -> list[str]:
        """Every column of the kind's table."""
        return [c.name for c in Base.metadata.tables[self.table].columns]

    @property
    def stored_columns(self) -> list[str]:
        """The columns a row holds itself (not generated from others, not which version it is): what a version keeps."""
        columns = Base.metadata.tables[self.table].columns
        return [c.name for c in columns if c.computed is None and c.name not in VERSION_COLUMNS]

    def field_writing(self, column: str) -> Field | None:
        return next((f for f in self.fields.values() if column in f.outputs), None)

    @property
    def geometry_columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields.values() if f.type in GEOMETRY_TYPES)

    def enum_labels(self, name: str) -> dict[str, tuple[str, str]]:
        return vocab.labels(name)


def _ref(raw: str | dict | None) -> Ref | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return Ref({None: _table_column(raw)})
    return Ref({value: _table_column(target) for value, target in raw["targets"].items()}, by=raw["by"])


def _table_column(dotted: str) -> tuple[str, str]:
    table, column = dotted.split(".")
    return table, column


def _required(table: str, f: Field) -> bool:
    if f.derive is not None:
        return False
    columns = [Base.metadata.tables[table].c[name] for name in f.outputs]
    return any(not c.nullable and c.default is None and c.server_default is None for c in columns)


def _field(table: str, name: str, raw: dict, key: tuple[str, ...]) -> Field:
    base = Field(name, raw["type"], raw.get("enum"), _ref(raw.get("ref")), raw.get("columns", {}), raw.get("derive"))
    if base.enum is not None and base.enum not in vocab.VOCABULARIES:
        raise ValueError(f"kinds.json: {name} names an unknown enumeration {base.enum!r}")
    column = Base.metadata.tables[table].c[base.outputs[0]]
    length = column.type.length if isinstance(column.type, String) and base.type in ("text", "uscc") else None
    required = _required(table, base) or (base.derive is None and bool(set(base.outputs) & set(key)))
    numeric = column.type if base.type == "decimal" and isinstance(column.type, Numeric) else None
    digits = numeric.precision - (numeric.scale or 0) if numeric is not None and numeric.precision is not None else None
    return Field(**{**base.__dict__, "max_length": length, "digits": digits, "required": required})


@cache
def kinds() -> dict[str, Kind]:
    """Every kind, read once from ``kinds.json``."""
    out = {}
    for name, raw in json.loads(KINDS_FILE.read_text()).items():
        key = tuple(raw["key"])
        fields = {
            f: _field(raw["table"], f, spec, key + tuple(raw.get("match", ()))) for f, spec in raw["fields"].items()
        }
        out[name] = Kind(
            name,
            tuple(raw["label"]),
            raw["table"],
            key,
            tuple(raw.get("match", key)),
            fields,
            raw.get("soft_delete", False),
            raw.get("link", False),
            tuple(raw.get("effects", ())),
        )
        if unknown := set(out[name].effects) - set(EFFECTS):
            raise ValueError(f"kinds.json: {name} names unknown effects {sorted(unknown)}")
        if untyped := [c for c in {*key, *out[name].match} if not isinstance(out[name].column_of(c).type, String)]:
            # keys travel as text (URLs, versions, probes): a key column of another type would not match its text
            raise ValueError(f"kinds.json: {name}'s key columns {sorted(untyped)} are not text columns")
    return out


def get(kind: str) -> Kind:
    """A kind by name, or a 404 that lists the kinds."""
    found = kinds().get(kind)
    if found is None:
        raise NotFound(f"no record kind {kind!r}: use one of {', '.join(kinds())}")
    return found

"""Import a records file of one kind: read, map headers, validate every row, upsert the good rows in
one transaction (or none, with ``all_or_nothing``), link projects to the map, report."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Connection

from core.db import get_engine
from core.errors import UserError
from gis.linking import link
from records import reader, spec, store
from records.mapping import load_mapping
from records.validate import Rejection, Row, check_batch, parse_row

Progress = Callable[[str, float], None]
MAX_REPORTED = 1000  # rejections listed in the summary (all are counted)
CHUNK_ROWS = 20_000  # rows validated and staged at a time (memory stays flat however long the file)


def validate_rows(
    conn: Connection,
    kind: spec.Kind,
    rows: list[tuple[int, dict[str, tuple[str, object]]]],
    partial: bool = False,
    seen: dict[tuple, int] | None = None,
) -> tuple[list[Row], list[Rejection], int]:
    """Parse and check rows (number, field -> (header, raw)); the good rows, the rejections, and the
    number of rows whose key fields (natural key and references) passed. ``seen``: the natural keys
    of earlier chunks of the same file."""
    parsed, rejections = [], []
    for number, given in rows:
        row, errors = parse_row(kind, number, given, partial)
        if errors:
            rejections.extend(errors)
        else:
            parsed.append(row)
    good, refused = check_batch(conn, kind, parsed, seen)
    rejections += refused
    key_failures = {r.row for r in rejections if r.key_field}
    return good, rejections, len(rows) - len(key_failures)


def _chunks(rows: Iterator, columns: dict[str, str]) -> Iterator[list[tuple[int, dict[str, tuple[str, object]]]]]:
    """The file's rows, mapped to fields, in chunks of CHUNK_ROWS."""
    chunk = []
    for number, values in rows:
        chunk.append((number, {columns[h]: (h, raw) for h, raw in values.items() if h in columns}))
        if len(chunk) == CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def present_columns(kind: spec.Kind, fields: set[str]) -> list[str]:
    """The table columns a batch writes: those of the fields it gives, the natural key, derived ids."""
    names = {c for name in fields for c in kind.fields[name].outputs}
    names |= set(kind.match) | {f.name for f in kind.fields.values() if f.derive}
    return [c for c in kind.columns if c in names]


def import_file(
    path: str | Path,
    kind_name: str,
    *,
    mapping: str | Path | None = None,
    all_or_nothing: bool = False,
    username: str | None = None,
    progress: Progress | None = None,
) -> dict:
    """Import one file; the summary: rows, inserted, updated, unchanged, rejected, key-field pass rate,
    the rejections (row, column, value, reason in Chinese and English) and what linking did."""
    started = time.perf_counter()
    report = progress or (lambda stage, percent: None)
    kind = spec.get(kind_name)
    rules = load_mapping(mapping)
    report("reading", 0)
    source = reader.read(path)
    columns, ignored = rules.columns(kind.name, source.headers, set(kind.fields))
    if not set(kind.match) & {c for f in columns.values() for c in kind.fields[f].outputs}:
        needed = ", ".join(kind.match)
        raise UserError(f"{source.name}: no column maps to the key ({needed}) of {kind.name}; check --mapping")
    engine = get_engine()
    rejections: list[Rejection] = []
    total = rejected = key_passed = 0
    with engine.begin() as conn:
        staging = store.Staging(conn, kind, present_columns(kind, set(columns.values())))
        seen: dict[tuple, int] = {}
        for chunk in _chunks(source.rows, columns):
            good, refused, passed = validate_rows(conn, kind, chunk, seen=seen)
            staging.stage(good)
            total, key_passed = total + len(chunk), key_passed + passed
            rejected += len({r.row for r in refused})
            rejections += refused[: MAX_REPORTED - len(rejections)]
            report("validating", min(70.0, 70.0 * total / max(source.estimated_rows, 1)))
        written = not (rejected and all_or_nothing)
        applied, linking = store.Applied(0, 0, 0), None
        if written:
            report("writing", 75)
            applied = staging.apply(username, f"import {source.name}")
            if kind.link and applied.changed:
                report("linking", 90)
                linking = link(conn, projects=applied.changed)
    return {
        "file": source.name,
        "kind": kind.name,
        "format": source.format,
        "encoding": source.encoding,
        "mapping": rules.name,
        "ignored_columns": ignored,
        "rows": total,
        "written": written,
        "inserted": applied.inserted,
        "updated": applied.updated,
        "unchanged": applied.unchanged,
        "rejected": rejected,
        "key_field_pass_rate": round(key_passed / total, 4) if total else 1.0,
        "rejections": [r.as_dict() for r in rejections],
        "linking": linking,
        "seconds": round(time.perf_counter() - started, 3),
    }

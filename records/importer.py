"""Import a records file of one kind: read, map headers, validate every row, upsert the good rows in
one transaction (or none, with ``all_or_nothing``: a savepoint rolled back), link projects to the
map, report. Chunks are parsed in the caller's thread while a writer thread checks references and
writes the previous chunk (COPY, UPDATE/INSERT, versions) on the import's connection."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
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


def parse_rows(
    kind: spec.Kind, rows: list[tuple[int, dict[str, tuple[str, object]]]], partial: bool = False
) -> tuple[list[Row], list[Rejection]]:
    """Parse rows (number, field -> (header, raw)) on their own (no database): the parsed rows, the rejections."""
    parsed, rejections = [], []
    for number, given in rows:
        row, errors = parse_row(kind, number, given, partial)
        if errors:
            rejections.extend(errors)
        else:
            parsed.append(row)
    return parsed, rejections


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
    parsed, rejections = parse_rows(kind, rows, partial)
    return _checked(conn, kind, len(rows), parsed, rejections, seen)


def _checked(
    conn: Connection,
    kind: spec.Kind,
    count: int,
    parsed: list[Row],
    rejections: list[Rejection],
    seen: dict[tuple, int] | None,
    known: dict[tuple[str, str], set] | None = None,
) -> tuple[list[Row], list[Rejection], int]:
    good, refused = check_batch(conn, kind, parsed, seen, known)
    rejections = rejections + refused
    key_failures = {r.row for r in rejections if r.key_field}
    return good, rejections, count - len(key_failures)


@dataclass
class _Tally:
    """What the chunks written so far add up to."""

    total: int = 0
    rejected: int = 0
    key_passed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    changed: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class _Writer:
    """Checks references and writes chunks on the import's connection in a thread of its own, so that
    the database works on one chunk while the caller parses the next (the thread waits on the
    database without the GIL). Only this thread uses the connection until :meth:`finish`."""

    def __init__(self, conn: Connection, kind: spec.Kind, columns: list[str], by: str | None, reason: str,
                 all_or_nothing: bool) -> None:  # fmt: skip
        self.conn, self.kind, self.columns, self.by, self.reason = conn, kind, columns, by, reason
        self.all_or_nothing = all_or_nothing
        self.seen: dict[tuple, int] = {}
        self.known: dict[tuple[str, str], set] = {}  # referenced values found so far
        self.tally = _Tally()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="records-writer")
        self.pending: Future[None] | None = None

    def submit(self, count: int, parsed: list[Row], rejections: list[Rejection]) -> None:
        """Queue a parsed chunk (after the previous one is written: at most two chunks in memory)."""
        self.wait()
        self.pending = self.pool.submit(self._write, count, parsed, rejections)

    def wait(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None

    def finish(self) -> _Tally:
        try:
            self.wait()
        finally:
            self.pool.shutdown()
        return self.tally

    def _write(self, count: int, parsed: list[Row], rejections: list[Rejection]) -> None:
        tally = self.tally
        good, refused, passed = _checked(self.conn, self.kind, count, parsed, rejections, self.seen, self.known)
        tally.total, tally.key_passed = tally.total + count, tally.key_passed + passed
        tally.rejected += len({r.row for r in refused})
        tally.rejections += refused[: MAX_REPORTED - len(tally.rejections)]
        if good and not (tally.rejected and self.all_or_nothing):
            applied = store.apply(self.conn, self.kind, good, self.columns, self.by, self.reason)
            tally.inserted, tally.updated = tally.inserted + applied.inserted, tally.updated + applied.updated
            tally.unchanged += applied.unchanged
            tally.changed += applied.changed


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
    linking = None
    with engine.begin() as conn:
        everything = conn.begin_nested()  # rolled back when --all-or-nothing meets a rejection
        writer = _Writer(conn, kind, present_columns(kind, set(columns.values())), username,
                         f"import {source.name}", all_or_nothing)  # fmt: skip
        try:
            for chunk in _chunks(source.rows, columns):
                writer.submit(len(chunk), *parse_rows(kind, chunk))
                report("validating", min(90.0, 90.0 * writer.tally.total / max(source.estimated_rows, 1)))
        finally:
            tally = writer.finish()
        written = not (tally.rejected and all_or_nothing)
        if written:
            everything.commit()
            if kind.link and tally.changed:
                report("linking", 90)
                linking = link(conn, projects=tally.changed)
        else:
            everything.rollback()
            tally.inserted = tally.updated = tally.unchanged = 0
    return {
        "file": source.name,
        "kind": kind.name,
        "format": source.format,
        "encoding": source.encoding,
        "mapping": rules.name,
        "ignored_columns": ignored,
        "rows": tally.total,
        "written": written,
        "inserted": tally.inserted,
        "updated": tally.updated,
        "unchanged": tally.unchanged,
        "rejected": tally.rejected,
        "key_field_pass_rate": round(tally.key_passed / tally.total, 4) if tally.total else 1.0,
        "rejections": [r.as_dict() for r in tally.rejections],
        "linking": linking,
        "seconds": round(time.perf_counter() - started, 3),
    }

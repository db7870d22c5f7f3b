"""Import a records file of one kind: read, map headers, validate every row, upsert the good rows in
one transaction (or none, with ``all_or_nothing``: a savepoint rolled back), link projects to the
map, report. The caller's thread parses a chunk and checks it (duplicate keys, references, whether
any key is stored) on a second connection while a writer thread writes the previous chunk on the
import's connection (COPY, or UPDATE/INSERT with versions): the database writes one chunk while
Python works on the next.

The checks read what is committed. The import holds its table against other writers from the start,
so the keys it probes cannot change meanwhile; a referenced row deleted between check and write makes
the database refuse the write (its reference triggers and foreign keys lock what the rows refer to),
and the import fails whole."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.errors import ForeignKeyViolation
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from core.db import get_engine
from core.errors import UserError
from gis.linking import link
from records import reader, spec, store
from records.mapping import load_mapping
from records.validate import Rejection, Row, check_batch, parse_row

Progress = Callable[[str, float], None]
MAX_REPORTED = 1000  # rejections listed in the summary (all are counted)
CHUNK_ROWS = 20_000  # rows validated and written at a time (memory stays flat however long the file)
FIRST_CHUNK_ROWS = 2_000


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
    """What the chunks checked and written so far add up to."""

    total: int = 0
    rejected: int = 0
    key_passed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    changed: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def checked(self, count: int, refused: list[Rejection], passed: int) -> None:
        """Count a chunk of ``count`` rows checked: the rows ``refused`` and how many passed the key fields."""
        self.total, self.key_passed = self.total + count, self.key_passed + passed
        self.rejected += len({r.row for r in refused})
        self.rejections += refused[: MAX_REPORTED - len(self.rejections)]


class _Writer:
    """Writes checked chunks on the import's connection in a thread of its own, so that the database
    writes one chunk while the caller parses and checks the next (the thread waits on the database
    without the GIL). Only this thread uses the connection until :meth:`close`."""

    def __init__(self, conn: Connection, kind: spec.Kind, columns: list[str], by: str | None, reason: str,
                 tally: _Tally) -> None:  # fmt: skip
        self.conn, self.kind, self.columns, self.by, self.reason = conn, kind, columns, by, reason
        self.tally = tally
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="records-writer")
        self.pending: Future[None] | None = None

    def submit(self, good: list[Row], new: bool) -> None:
        """Queue checked rows (``new``: none of their keys is stored) after the previous chunk is written:
        at most two chunks in memory."""
        self.wait()
        self.pending = self.pool.submit(self._write, good, new)

    def wait(self) -> None:
        """Until the chunk queued last is written (its error raised here)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Stop the thread once its chunk is done: the connection is the caller's again."""
        self.pool.shutdown()

    def _write(self, good: list[Row], new: bool) -> None:
        applied = store.apply(self.conn, self.kind, good, self.columns, self.by, self.reason, new=new)
        tally = self.tally
        tally.inserted, tally.updated = tally.inserted + applied.inserted, tally.updated + applied.updated
        tally.unchanged += applied.unchanged
        tally.changed += applied.changed


def _chunks(rows: Iterator, columns: dict[str, str]) -> Iterator[list[tuple[int, dict[str, tuple[str, object]]]]]:
    """The file's rows, mapped to fields, in chunks: a small first one (the writer starts early), then
    CHUNK_ROWS at a time."""
    chunk: list[tuple[int, dict[str, tuple[str, object]]]] = []
    size = min(FIRST_CHUNK_ROWS, CHUNK_ROWS)
    for number, values in rows:
        chunk.append((number, {columns[h]: (h, raw) for h, raw in values.items() if h in columns}))
        if len(chunk) == size:
            yield chunk
            chunk, size = [], CHUNK_ROWS
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
    tally = _Tally()
    seen: dict[tuple, int] = {}  # the natural keys of the chunks checked so far
    known: dict[tuple[str, str], set] = {}  # referenced values found so far
    with engine.begin() as conn, engine.connect() as checks:
        store.lock(conn, kind)  # before any probe: the keys stored stay as the checks see them
        everything = conn.begin_nested()  # rolled back when --all-or-nothing meets a rejection
        writer = _Writer(conn, kind, present_columns(kind, set(columns.values())), username,
                         f"import {source.name}", tally)  # fmt: skip
        try:
            for chunk in _chunks(source.rows, columns):
                good, refused, passed = _checked(checks, kind, len(chunk), *parse_rows(kind, chunk), seen, known)
                tally.checked(len(chunk), refused, passed)
                if good and not (tally.rejected and all_or_nothing):
                    writer.submit(good, new=not store.any_stored(checks, kind, good))
                report("validating", min(90.0, 90.0 * tally.total / max(source.estimated_rows, 1)))
            writer.wait()
        except IntegrityError as exc:
            if not isinstance(exc.orig, ForeignKeyViolation):
                raise
            raise UserError(f"{source.name}: a record it refers to was deleted while it was imported; nothing"
                            " was written: import it again") from exc  # fmt: skip
        finally:
            writer.close()
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

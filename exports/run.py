"""Run an export: resolve the query, stream its rows into the file, report progress."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from core import jobs
from core.db import get_engine, read_engine
from core.errors import UserError
from core.settings import get_settings
from core.vocab import Label
from exports.labels import Headers, Labels, header_rows, translate, value_maps
from exports.sources import DOCUMENTS, Document, Scope, Statement, resolve
from exports.write import Writer, writer

BATCH_ROWS = 10_000


def exports_dir() -> Path:
    path = get_settings().data_dir / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check(query: dict[str, Any], fmt: str, personal: bool, scope: Scope) -> tuple[bool, int]:
    """Check a query before it is queued (a bad one is a 400 now, not a failed job later): whether its
    rows carry personal data, and how many rows it gives within the requester's districts ``scope``."""
    if query.get("source") in DOCUMENTS and fmt != "xlsx":
        raise UserError("a profile exports to xlsx (a sheet for the record and one for each section)")
    with read_engine().connect() as conn:
        found = resolve(conn, query, personal, scope)
        if isinstance(found, Statement):
            rows = conn.execute(text(f"SELECT count(*) FROM ({found.sql}) AS s"), found.params).scalar_one()
            return found.personal, rows
    sections = [v for v in found.document.values() if isinstance(v, list)]
    return found.personal, len(found.document["record"]) + sum(len(v) for v in sections)


def export(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """The job's work: params ``query``, ``format``, ``personal`` (the requester's right), ``districts``
    (the requester's data scope when it was asked for: division codes, or None for the whole city),
    ``headers`` (see exports.labels); returns the file's name, its rows and bytes."""
    fmt, query, personal = params["format"], params["query"], bool(params["personal"])
    if "districts" not in params:  # queued before the scope went with the job: never exported unscoped
        raise UserError("this export was queued without the requester's districts: ask for it again")
    scope = params["districts"]
    headers = params.get("headers", "zh")
    path = exports_dir() / f"{uuid.uuid4().hex}.{fmt}"
    out = writer(fmt, path)
    written = 0
    try:
        # One snapshot: the count the progress is measured against and the rows agree; a transaction
        # also lets psycopg stream through a server-side cursor.
        with get_engine().connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            found = resolve(conn, query, personal, scope)
            if isinstance(found, Statement):
                total = conn.execute(text(f"SELECT count(*) FROM ({found.sql}) AS s"), found.params).scalar_one()
                progress("writing", 0)
                result = conn.execution_options(stream_results=True, max_row_buffer=BATCH_ROWS).execute(
                    text(found.sql), found.params
                )
                columns = list(result.keys())
                out.sheet(query["source"], columns, header_rows(columns, found.labels, headers, out.one_header_row))
                maps = value_maps(columns, found.labels, headers)
                for batch in result.partitions(BATCH_ROWS):
                    out.rows(translate(batch, maps))
                    written += len(batch)
                    progress("writing", 99 * written / max(total, 1))
            else:
                written = _document(out, found, headers)
        out.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {"file": path.name, "format": fmt, "rows": written, "bytes": path.stat().st_size}


RECORD_COLUMNS = {"field": Label(zh="字段", en="Field"), "value": Label(zh="值", en="Value")}


def _document(out: Writer, found: Document, headers: Headers) -> int:
    """A profile: the record as field/value rows (the fields by their labels, unless ``field``), then a
    sheet for each section that has rows."""
    record = found.document["record"]
    out.sheet("record", ["field", "value"], header_rows(["field", "value"], Labels(RECORD_COLUMNS), headers))
    names = value_maps(list(record), found.labels, headers)
    rows = [(f if headers == "field" else _label_of(f, found.labels), (m or {}).get(v, v) if isinstance(v, str) else v)
            for (f, v), m in zip(record.items(), names, strict=True)]  # fmt: skip
    out.rows(rows)
    written = len(rows)
    for name, section in found.document.items():
        if isinstance(section, list) and section:
            columns = list(section[0])
            out.sheet(name, columns, header_rows(columns, found.labels, headers, out.one_header_row))
            out.rows(translate([list(r.values()) for r in section], value_maps(columns, found.labels, headers)))
            written += len(section)
    return written


def _label_of(name: str, labels: Labels) -> str:
    label = labels.columns.get(name)
    return label.zh if label else name

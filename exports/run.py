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
from exports.sources import DOCUMENTS, Statement, resolve
from exports.write import writer

BATCH_ROWS = 10_000


def exports_dir() -> Path:
    path = get_settings().data_dir / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check(query: dict[str, Any], fmt: str, personal: bool) -> tuple[bool, int]:
    """Check a query before it is queued (a bad one is a 400 now, not a failed job later): whether its
    rows carry personal data, and how many rows it gives."""
    if query.get("source") in DOCUMENTS and fmt != "xlsx":
        raise UserError("a profile exports to xlsx (a sheet for the record and one for each section)")
    with read_engine().connect() as conn:
        found = resolve(conn, query, personal)
        if isinstance(found, Statement):
            rows = conn.execute(text(f"SELECT count(*) FROM ({found.sql}) AS s"), found.params).scalar_one()
            return found.personal, rows
    document, shows_people = found
    return shows_people, len(document["record"]) + sum(len(v) for v in document.values() if isinstance(v, list))


def export(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """The job's work: params ``query``, ``format``, ``personal`` (the requester's right); returns the
    file's name, its rows and bytes."""
    fmt, query, personal = params["format"], params["query"], bool(params["personal"])
    path = exports_dir() / f"{uuid.uuid4().hex}.{fmt}"
    out = writer(fmt, path)
    written = 0
    try:
        # One snapshot: the count the progress is measured against and the rows agree; a transaction
        # also lets psycopg stream through a server-side cursor.
        with get_engine().connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            found = resolve(conn, query, personal)
            if isinstance(found, Statement):
                total = conn.execute(text(f"SELECT count(*) FROM ({found.sql}) AS s"), found.params).scalar_one()
                progress("writing", 0)
                result = conn.execution_options(stream_results=True, max_row_buffer=BATCH_ROWS).execute(
                    text(found.sql), found.params
                )
                out.sheet(query["source"], list(result.keys()))
                for batch in result.partitions(BATCH_ROWS):
                    out.rows(batch)
                    written += len(batch)
                    progress("writing", 99 * written / max(total, 1))
            else:
                written = _document(out, found[0])
        out.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {"file": path.name, "format": fmt, "rows": written, "bytes": path.stat().st_size}


def _document(out, document: dict[str, Any]) -> int:
    """A profile: the record as field/value rows, then a sheet for each section that has rows."""
    out.sheet("record", ["field", "value"])
    out.rows(list(document["record"].items()))
    written = len(document["record"])
    for name, rows in document.items():
        if isinstance(rows, list) and rows:
            out.sheet(name, list(rows[0]))
            out.rows([list(r.values()) for r in rows])
            written += len(rows)
    return written

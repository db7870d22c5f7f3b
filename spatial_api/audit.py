"""The audit log: logins, refused attempts, writes, exports and sensitive reads. Rows are chained by
hash in the database (see core/audit_chain.py); the address is the real client's (trusted proxies only)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache

from fastapi import Request
from sqlalchemy import Connection, TextClause, text

from core.db import AUDIT_POOL_SIZE, audit_engine, get_engine
from spatial_api.clientaddr import client_address
from spatial_api.security import Principal

# Asking for a page larger than this is an export; so is paging one collection past each multiple of
# EXPORT_THRESHOLD features by one principal (or anonymous address) within the window.
PAGE_EXPORT = 1000
EXPORT_THRESHOLD = 5000
EXPORT_WINDOW_S = 3600.0


def address_of(request: Request | None) -> str | None:
    return client_address(request.scope) if request is not None else None


AUDIT_INSERT = text(
    "INSERT INTO audit_log (username, action, object, address, result, detail)"
    " VALUES (:u, :a, :o, :addr, :r, CAST(:d AS jsonb))"
)


def _values(
    action: str, obj: str | None, principal: Principal, request: Request | None, result: str, detail: dict | None
) -> dict:
    return {
        "u": principal.username,
        "a": action,
        "o": obj,
        "addr": address_of(request),
        "r": result,
        "d": json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None,
    }


def record(
    action: str,
    obj: str | None,
    principal: Principal,
    request: Request | None,
    result: str = "ok",
    detail: dict | None = None,
    conn: Connection | None = None,
) -> None:
    """Write one audit row, committed (durably) before the caller goes on. One plain INSERT: the database
    chains it. ``detail`` holds e.g. a record's before and after (in the chain too).

    Without ``conn`` the row has a transaction (and pool connection) of its own, so it stays even when the
    action fails. With ``conn`` (on the primary) it is written on the caller's connection: in its
    transaction, or, on an autocommit connection such as :func:`core.db.read_engine`'s, committed by its
    own statement: one round trip, no second checkout."""
    values = _values(action, obj, principal, request, result, detail)
    if conn is not None:
        conn.execute(AUDIT_INSERT, values)
        return
    with get_engine().begin() as own:
        own.execute(AUDIT_INSERT, values)


_writers = ThreadPoolExecutor(AUDIT_POOL_SIZE, thread_name_prefix="cim-audit")


@lru_cache(maxsize=64)
def _insert_if(condition: str) -> TextClause:
    return text(
        "INSERT INTO audit_log (username, action, object, address, result, detail)"
        f" SELECT :u, :a, :o, :addr, :r, CAST(:d AS jsonb) WHERE {condition}"
    )


def record_if(
    condition: str, params: dict, action: str, obj: str | None, principal: Principal, request: Request | None
) -> Future[bool]:
    """Start writing one audit row if the SQL ``condition`` (with ``params``, none named u, a, o, addr, r or d)
    holds, on the primary on a connection of its own: chained and committed (durably) by its one statement
    while the caller goes on, e.g. reads what it records, so the commit's WAL flush overlaps the read. The
    future tells whether the row was written (and raises what failed); wait for it before the answer leaves."""
    statement = _insert_if(condition)
    values = {**params, **_values(action, obj, principal, request, "ok", None)}

    def write() -> bool:
        with audit_engine().connect() as conn:
            return conn.execute(statement, values).rowcount == 1

    return _writers.submit(write)


class _Tally:
    """Features read per (principal or address, collection) over a sliding window, in this process."""

    def __init__(self) -> None:
        self._reads: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        self._lock = threading.Lock()

    def add(self, who: str, what: str, count: int, window_s: float) -> tuple[int, int]:
        """The total before and after adding ``count`` now, over the window."""
        now = time.monotonic()
        with self._lock:
            reads = self._reads.setdefault((who, what), deque())
            while reads and reads[0][0] < now - window_s:
                reads.popleft()
            before = sum(n for _, n in reads)
            reads.append((now, count))
            return before, before + count


_tally = _Tally()


def paged(collection: str, limit: int, returned: int, principal: Principal, request: Request) -> None:
    """Count a page of features; asking for a bulk page, or paging that takes one caller's total over a
    multiple of the threshold within the window, is logged as an export."""
    who = principal.username or f"@{address_of(request)}"
    before, after = _tally.add(who, collection, returned, EXPORT_WINDOW_S)
    if limit > PAGE_EXPORT or after // EXPORT_THRESHOLD > before // EXPORT_THRESHOLD:
        obj = f"collections/{collection}?{request.url.query} (page {returned}, {after} in the last hour)"
        record("export", obj, principal, request)

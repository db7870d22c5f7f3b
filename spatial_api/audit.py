"""The audit log: logins, refused attempts, writes, exports and sensitive reads. Rows are chained by
hash in the database (see core/audit_chain.py); the address is the real client's (trusted proxies only)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque

from fastapi import Request
from sqlalchemy import Connection, text

from core.db import get_engine
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
    values = {
        "u": principal.username,
        "a": action,
        "o": obj,
        "addr": address_of(request),
        "r": result,
        "d": json.dumps(detail, ensure_ascii=False, default=str) if detail is not None else None,
    }
    if conn is not None:
        conn.execute(AUDIT_INSERT, values)
        return
    with get_engine().begin() as own:
        own.execute(AUDIT_INSERT, values)


def row_when(action: str, obj: str | None, principal: Principal, request: Request | None) -> tuple[str, dict]:
    """One audit row as an ``INSERT … SELECT … WHERE {when}`` (SQL, the condition left to fill in) and its
    parameters (all named ``audit_*``), for a statement that writes its own audit row: e.g. a read that
    records itself when what it reads is personal, in one snapshot, one round trip and one commit."""
    insert, values = row_of(action, principal, request)
    return insert.format(object=":audit_o", source="WHERE {when}"), {**values, "audit_o": obj}


def row_of(action: str, principal: Principal, request: Request | None) -> tuple[str, dict]:
    """One audit row as an ``INSERT … SELECT {object} … {source}`` (SQL, the object's SQL and the rows it is
    made from left to fill in) and its parameters (``audit_u``, ``audit_a``, ``audit_addr``): for a read
    whose audit row names what it found, e.g. the people among a search's hits."""
    values = {"audit_u": principal.username, "audit_a": action, "audit_addr": address_of(request)}
    insert = (
        "INSERT INTO audit_log (username, action, object, address, result)"
        " SELECT :audit_u, :audit_a, {object}, :audit_addr, 'ok' {source}"
    )
    return insert, values


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

"""Verifying the audit log's hash chain in Python, independently of the database trigger that builds
it: each row's hash must be SHA-256 of the previous row's hash and its own content, and each row must
point at the row before it, so a changed, inserted or removed row (but the last) breaks the chain."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import Connection, text

SEPARATOR = "\x1f"


def row_hash(prev_hash: str, row) -> str:
    """The hash the insert trigger gives a row (the same fields, in the same form)."""
    at = row.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    fields = (
        prev_hash,
        str(row.id),
        at,
        row.username or "",
        row.action,
        row.object or "",
        row.address or "",
        row.result,
        row.detail_text or "",
    )
    return hashlib.sha256(SEPARATOR.join(fields).encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    rows: int
    ok: bool
    first_bad_id: int | None
    reason: str | None


def verify(conn: Connection, batch: int = 10000) -> Verdict:
    """Walk the chained rows in id order (rows from before the chain existed have no hash)."""
    previous = None
    count = 0
    last_id = 0
    while True:
        rows = conn.execute(
            text(
                """SELECT id, at, username, action, object, address, result, detail::text AS detail_text,
                          prev_hash, hash
                     FROM audit_log
                    WHERE hash IS NOT NULL AND id > :after ORDER BY id LIMIT :n"""
            ),
            {"after": last_id, "n": batch},
        ).all()
        for row in rows:
            if previous is not None and row.prev_hash != previous:
                return Verdict(count, False, row.id, "the row before it is missing or was changed")
            if row_hash(row.prev_hash, row) != row.hash:
                return Verdict(count, False, row.id, "its content was changed")
            previous = row.hash
            count += 1
            last_id = row.id
        if len(rows) < batch:
            return Verdict(count, True, None, None)

"""Versions of records (``record_version``): every import and write closes the current version of
what it changed and opens a new one, so any past state can be asked for."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from core.errors import NotFound
from records.spec import Kind

CHINA = ZoneInfo("Asia/Shanghai")
# A version's data is the row's stored columns as JSONB (not the generated search columns; geometry
# as GeoJSON in the store CRS; personal data only as stored: hashed, encrypted, masked).
_AS_OF = text(
    """SELECT data, valid_from, valid_to, changed_by, reason FROM record_version
        WHERE kind = :kind AND key = :key AND valid_from <= :when AND (valid_to IS NULL OR valid_to > :when)
        ORDER BY valid_from DESC LIMIT 1"""
)
_VERSIONS = text(
    """SELECT data, valid_from, valid_to, changed_by, reason FROM record_version
        WHERE kind = :kind AND key = :key ORDER BY valid_from, id"""
)


def key_sql(kind: Kind, alias: str) -> str:
    """SQL of a record's key as text (the parts of a composite key joined with ':')."""
    return "concat_ws(':', " + ", ".join(f"{alias}.{c}::text" for c in kind.key) + ")"


def write_versions(conn: Connection, kind: Kind, where: str, when: datetime, by: str | None, reason: str | None,
                   deleted: bool = False, params: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Close the open versions of the rows of ``kind.table`` (alias ``t``) that ``where`` (with
    ``params``) selects and open new ones holding the rows as they are now (``deleted``: nothing)."""
    stored = ", ".join(f"t.{c}" for c in kind.stored_columns)
    keys = f"""SELECT {key_sql(kind, "t")} AS key, (SELECT to_jsonb(r) FROM (SELECT {stored}) r) AS data
                 FROM {kind.table} t WHERE {where}"""
    params = {**(params or {}), "kind": kind.name, "when": when, "by": by, "reason": reason}
    conn.execute(
        text(f"""UPDATE record_version v SET valid_to = :when FROM ({keys}) c
                  WHERE v.kind = :kind AND v.key = c.key AND v.valid_to IS NULL"""),
        params,
    )
    data = "NULL" if deleted else "c.data"
    conn.execute(
        text(f"""INSERT INTO record_version (kind, key, data, valid_from, changed_by, reason)
                 SELECT :kind, c.key, {data}, :when, :by, :reason FROM ({keys}) c"""),
        params,
    )


def moment(when: date | datetime) -> datetime:
    """A date means what was known by the end of that day (China time); a time is taken as given."""
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=CHINA)
    return datetime.combine(when + timedelta(days=1), time(), CHINA) - timedelta(microseconds=1)


def as_of(conn: Connection, kind: str, key: str, when: date | datetime) -> dict[str, Any] | None:
    """The record ``key`` of ``kind`` (e.g. ``projects``) as it was known at ``when``: its data,
    valid_from, valid_to, changed_by and reason; None if no version was valid then."""
    row = conn.execute(_AS_OF, {"kind": kind, "key": key, "when": moment(when)}).mappings().first()
    return None if row is None else dict(row)


def versions(conn: Connection, kind: str, key: str) -> list[dict[str, Any]]:
    """Every version of a record, oldest first."""
    found = [dict(r) for r in conn.execute(_VERSIONS, {"kind": kind, "key": key}).mappings()]
    if not found:
        raise NotFound(f"{kind} {key!r} has no recorded versions")
    return found

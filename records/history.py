"""Versions of records. A record's row is its current (open) version: since when (``version_from``),
by whom, why. ``record_version`` keeps the versions a change or a delete superseded, each valid from
``valid_from`` until ``valid_to``, and an open version without data for a hard-deleted key (closed
when the key comes back). Every reader asks :func:`versions_sql`, which unites the two.

Columns other writers derive from other records (linking's parcel and project codes, the credit
engine's grades, division codes, ``records.effects``) change a row in place and make no version:
the current version shows them as the row holds them, and their own history is elsewhere (the linked
records' versions, ``credit_grade_history``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from core.errors import NotFound
from records import spec
from records.spec import Kind

CHINA = ZoneInfo("Asia/Shanghai")


def key_sql(kind: Kind, alias: str) -> str:
    """SQL of a record's key as text (the parts of a composite key joined with ':')."""
    return "concat_ws(':', " + ", ".join(f"{alias}.{c}::text" for c in kind.key) + ")"


def key_values(kind: Kind, key: str) -> dict[str, str]:
    """The key columns' values of a key in its text form, or a 404."""
    parts = key.split(":", len(kind.key) - 1)
    if len(parts) != len(kind.key):
        raise NotFound(f"{kind.name} keys have the form {':'.join(kind.key)}, not {key!r}")
    return dict(zip(kind.key, parts, strict=True))


def data_sql(kind: Kind, alias: str) -> str:
    """SQL of a version's data: the row's stored columns as JSONB (not the generated search columns;
    geometry as GeoJSON in the store CRS; personal data only as stored: hashed, encrypted, masked)."""
    stored = ", ".join(f"{alias}.{c}" for c in kind.stored_columns)
    return f"(SELECT to_jsonb(r) FROM (SELECT {stored}) r)"


def versions_sql(kind: Kind, key: str, row: str, source: str = "", where: str = "TRUE") -> str:
    """SQL of every version of one record as (data, valid_from, valid_to, changed_by, reason, id): those
    ``record_version`` keeps (``key``: SQL of the key as text) and the open one its row holds (alias
    ``row``, found by ``source``, a FROM clause, and ``where``; no source when ``row`` is in scope
    already), whose id is null."""
    return f"""SELECT v.data, v.valid_from, v.valid_to, v.changed_by, v.reason, v.id FROM record_version v
                WHERE v.kind = '{kind.name}' AND v.key = {key}
               UNION ALL
               SELECT {data_sql(kind, row)}, {row}.version_from, NULL::timestamptz, {row}.version_by,
                      {row}.version_reason, NULL::bigint {source}
                WHERE {where} AND {row}.version_from IS NOT NULL"""


def valid_at_sql(versions: str, moment: str) -> str:
    """SQL (after SELECT's list) of the one of ``versions`` (SQL of :func:`versions_sql`) valid at ``moment``
    (SQL of a timestamptz), the newest first: none when the record was deleted or unknown then."""
    return f"""FROM ({versions}) x WHERE x.valid_from <= {moment} AND (x.valid_to IS NULL OR x.valid_to > {moment})
                ORDER BY x.valid_from DESC LIMIT 1"""


def supersede(conn: Connection, kind: Kind, rows: str, when: datetime, params: dict[str, Any] | None = None) -> None:
    """Keep the versions that the rows ``rows`` selects (SQL after FROM ending in a WHERE clause, the
    kind's table aliased ``t``) hold, as valid until ``when``: called before they change or go. Rows
    from before versioning hold none."""
    conn.execute(
        text(f"""INSERT INTO record_version (kind, key, data, valid_from, valid_to, changed_by, reason)
                 SELECT :kind, {key_sql(kind, "t")}, {data_sql(kind, "t")}, t.version_from, :when, t.version_by,
                        t.version_reason FROM {rows} AND t.version_from IS NOT NULL"""),
        {**(params or {}), "kind": kind.name, "when": when},
    )


def mark_deleted(conn: Connection, kind: Kind, rows: str, when: datetime, by: str | None, reason: str | None,
                 params: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Keep the versions of the rows ``rows`` selects (see :func:`supersede`) and open an empty one for
    each key from ``when``: they are about to be deleted."""
    supersede(conn, kind, rows, when, params)
    conn.execute(
        text(f"""INSERT INTO record_version (kind, key, data, valid_from, changed_by, reason)
                 SELECT :kind, {key_sql(kind, "t")}, NULL, :when, :by, :reason FROM {rows}"""),
        {**(params or {}), "kind": kind.name, "when": when, "by": by, "reason": reason},
    )


def close_deleted(conn: Connection, kind: Kind, keys: Sequence[str], when: datetime) -> None:
    """End at ``when`` the empty versions of the deleted ``keys`` (key texts) that come back: the only
    versions ``record_version`` holds open (found key by key through its partial unique index)."""
    conn.execute(
        text("""UPDATE record_version SET valid_to = :when
                 WHERE kind = :kind AND valid_to IS NULL AND key = ANY(:keys)"""),
        {"kind": kind.name, "when": when, "keys": list(keys)},
    )


def moment(when: date | datetime) -> datetime:
    """A date means what was known by the end of that day (China time); a time is taken as given."""
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=CHINA)
    return datetime.combine(when + timedelta(days=1), time(), CHINA) - timedelta(microseconds=1)


def _versions(kind: Kind, key: str) -> tuple[str, dict[str, Any]]:
    """SQL of the versions of the record ``key`` (see :func:`versions_sql`) and its parameters."""
    values = key_values(kind, key)
    found = " AND ".join(f"t.{c} = :k_{c}" for c in kind.key)
    sql = versions_sql(kind, ":key", "t", f"FROM {kind.table} t", found)
    return sql, {"key": key, **{f"k_{c}": v for c, v in values.items()}}


def as_of(conn: Connection, kind: str, key: str, when: date | datetime) -> dict[str, Any] | None:
    """The record ``key`` of ``kind`` (e.g. ``projects``) as it was known at ``when``: its data,
    valid_from, valid_to, changed_by and reason; None if no version was valid then."""
    sql, params = _versions(spec.kinds()[kind], key)
    row = (
        conn.execute(
            text(f"SELECT data, valid_from, valid_to, changed_by, reason {valid_at_sql(sql, ':when')}"),
            {**params, "when": moment(when)},
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def versions(conn: Connection, kind: str, key: str) -> list[dict[str, Any]]:
    """Every version of a record, oldest first."""
    sql, params = _versions(spec.kinds()[kind], key)
    found = [
        dict(r)
        for r in conn.execute(
            text(f"SELECT data, valid_from, valid_to, changed_by, reason FROM ({sql}) x ORDER BY valid_from, id"),
            params,
        ).mappings()
    ]
    if not found:
        raise NotFound(f"{kind} {key!r} has no recorded versions")
    return found

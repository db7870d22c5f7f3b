"""The bulk write path: COPY the validated rows into a temporary table, then one UPDATE of the rows
whose values differ (IS DISTINCT FROM) and one INSERT of the new ones, and a version of each change."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text

from records import effects
from records.history import key_sql, write_versions
from records.spec import Kind
from records.validate import Row

_scratch = itertools.count(1)


@dataclass
class Applied:
    inserted: int
    updated: int
    unchanged: int
    changed: list[str] = field(default_factory=list)  # the keys (text) of the rows inserted or updated


def _defaults(kind: Kind, absent: Sequence[str]) -> dict[str, object]:
    """Scalar defaults of the model for the columns a batch does not give (a new row needs them)."""
    out = {}
    for name in absent:
        default = kind.column_of(name).default
        if default is not None and default.is_scalar:
            out[name] = default.arg
    return out


def now(conn: Connection) -> datetime:
    """The time versions written next start from (clock time: several changes in one transaction differ)."""
    return conn.execute(text("SELECT clock_timestamp()")).scalar_one()


def apply(
    conn: Connection, kind: Kind, rows: Sequence[Row], columns: Sequence[str], by: str | None, reason: str | None
) -> Applied:
    """Upsert ``rows`` (their ``columns``) into the kind's table by its natural key (``kind.match``) in
    the caller's transaction; returns what was inserted, updated and left as it was."""
    if not rows:
        return Applied(0, 0, 0)
    table = kind.table
    scratch, changed = f"_records_in_{next(_scratch)}", f"_records_changed_{next(_scratch)}"
    listed = ", ".join(columns)
    conn.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(text(f"CREATE TEMP TABLE {scratch} ON COMMIT DROP AS SELECT {listed} FROM {table} WITH NO DATA"))
    cursor = conn.connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY {scratch} ({listed}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row.values.get(c) for c in columns])
    match = " AND ".join(f"t.{c} = i.{c}" for c in kind.match)
    compared = [c for c in columns if c not in kind.match and c not in kind.key]
    old, new = (", ".join(f"{alias}.{c}" for c in compared) for alias in ("t", "i"))
    differs = f"ROW({old}) IS DISTINCT FROM ROW({new})" if compared else "false"
    if kind.soft_delete:
        differs += " OR t.deleted_at IS NOT NULL"
    conn.execute(
        text(f"""CREATE TEMP TABLE {changed} ON COMMIT DROP AS
                 SELECT i.*, t.{kind.match[0]} IS NULL AS is_new FROM {scratch} i LEFT JOIN {table} t ON {match}
                  WHERE t.{kind.match[0]} IS NULL OR {differs}""")
    )
    counts = conn.execute(
        text(f"SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM {changed}")
    ).one()
    when = now(conn)
    if counts[1]:
        sets = [f"{c} = i.{c}" for c in compared]
        if kind.soft_delete:
            sets += ["deleted_at = NULL", "deleted_reason = NULL"]
        conn.execute(text(f"UPDATE {table} t SET {', '.join(sets)} FROM {changed} i WHERE {match} AND NOT i.is_new"))
    if counts[0]:
        defaults = _defaults(kind, [name for name in kind.columns if name not in columns])
        names = [*columns, *defaults]
        values = [f"i.{c}" for c in columns] + [f":d_{c}" for c in defaults]
        conn.execute(
            text(
                f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(values)} FROM {changed} i WHERE i.is_new"
            ),
            {f"d_{c}": v for c, v in defaults.items()},
        )
    keys: list[str] = []
    if counts[0] or counts[1]:
        where = f"EXISTS (SELECT 1 FROM {changed} i WHERE {match})"
        write_versions(conn, kind, where, when, by, reason)
        keys = list(conn.scalars(text(f"SELECT {key_sql(kind, 't')} FROM {table} t WHERE {where}")))
    conn.execute(text(f"DROP TABLE {scratch}, {changed}"))
    effects.run(conn, kind.effects, keys)
    return Applied(counts[0], counts[1], len(rows) - counts[0] - counts[1], keys)

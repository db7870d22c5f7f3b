"""The bulk write path. A batch none of whose natural keys is stored yet (a first import) is COPYed
straight into the kind's table. Any other batch is COPYed into a temporary table, then applied with
one UPDATE of the rows whose values differ (IS DISTINCT FROM), after keeping the versions they held,
and one INSERT of the new ones. Each row written is its record's current version (``records.history``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from sqlalchemy import ColumnDefault, Connection, text
from sqlalchemy.exc import DBAPIError

from core import divisions
from core.models.history import VERSION_COLUMNS
from records import effects, history
from records.history import key_sql
from records.spec import Kind
from records.validate import Row

_scratch = itertools.count(1)


@dataclass
class Applied:
    inserted: int
    updated: int
    unchanged: int
    changed: list[str] = field(default_factory=list)  # the keys (text) of the rows inserted or updated


def city_of_row(table: str, columns: Sequence[str]) -> tuple[str, str] | None:
    """SQL of the city (partition key, migration 0022) of a row inserted from the staged row ``i`` (with
    these ``columns``) into a table partitioned by city, and the join it needs; None for other tables. A
    row inserted without its city goes to the default partition and is moved after the statement: written
    twice."""
    if table == "house_unit":  # its building's
        return "coalesce(b.city_code, '')", " LEFT JOIN building b ON b.code = i.building_code"
    if table in divisions.CITY_PARTITIONED:
        division = "i.division_code" if "division_code" in columns else None
        return divisions.city_sql(f"i.{divisions.CITY_PARTITIONED[table]}", division), ""
    return None


def defaults(kind: Kind, absent: Sequence[str]) -> dict[str, object]:
    """Scalar defaults of the model for the columns a batch does not give (a new row or a replaced one needs them)."""
    out = {}
    for name in absent:
        default = kind.column_of(name).default
        if isinstance(default, ColumnDefault) and default.is_scalar:
            out[name] = default.arg
    return out


def now(conn: Connection) -> datetime:
    """The time versions written next start from (clock time: several changes in one transaction differ)."""
    return conn.execute(text("SELECT clock_timestamp()")).scalar_one()


def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """COPY ``rows`` (values in the order of ``columns``) into ``table`` on the connection's transaction; the
    database's refusal raised as SQLAlchemy's error, as a statement's would be."""
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the records import's connection is closed: nothing can be written")
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    cursor = driver.cursor()
    try:
        with cursor, cursor.copy(statement) as copy:
            for values in rows:
                copy.write_row(values)
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def any_stored(conn: Connection, kind: Kind, rows: Sequence[Row]) -> bool:
    """Whether the natural key of any of ``rows`` is stored (deleted softly included): probed key by key
    through the key's index, stopping at the first hit (a join would hash the keys and scan the table)."""
    given = ", ".join(f"CAST(:k{i} AS text[])" for i in range(len(kind.match)))
    match = " AND ".join(f"t.{c} = i.{c}" for c in kind.match)
    found = f"""SELECT EXISTS (SELECT FROM unnest({given}) AS i({", ".join(kind.match)})
                 CROSS JOIN LATERAL (SELECT FROM {kind.table} t WHERE {match} LIMIT 1) AS hit)"""
    keys = {f"k{i}": [row.values.get(c) for row in rows] for i, c in enumerate(kind.match)}
    return bool(conn.execute(text(found), keys).scalar_one())


def insert_new(conn: Connection, kind: Kind, rows: Sequence[Row], columns: Sequence[str], by: str | None,
               reason: str | None) -> Applied:  # fmt: skip
    """COPY ``rows``, none of whose keys is stored, straight into the kind's table as current versions
    (no scratch table, no INSERT ... SELECT); the empty versions of keys deleted before are closed."""
    when = now(conn)
    filled = defaults(kind, [name for name in kind.columns if name not in columns])
    tail = [*filled.values(), when, by, reason]
    _copy(conn, kind.table, [*columns, *filled, *VERSION_COLUMNS],
          ([*(row.values.get(c) for c in columns), *tail] for row in rows))  # fmt: skip
    # the keys as key_sql writes them (key columns are text: records.spec)
    keys = [":".join(str(row.values[c]) for c in kind.key) for row in rows]
    history.close_deleted(conn, kind, keys, when)
    effects.run(conn, kind.effects, keys)
    return Applied(len(rows), 0, 0, keys)


class Staging:
    """Rows of one kind COPYed into a temporary table in chunks (the caller's transaction), then
    applied to the kind's table in one go: ``stage(rows)`` as often as needed, then ``apply``."""

    def __init__(self, conn: Connection, kind: Kind, columns: Sequence[str]) -> None:
        self.conn, self.kind, self.columns = conn, kind, list(columns)
        self.scratch = f"_records_in_{next(_scratch)}"
        self.rows = 0
        listed = ", ".join(self.columns)
        conn.execute(
            text(f"CREATE TEMP TABLE {self.scratch} ON COMMIT DROP AS SELECT {listed} FROM {kind.table} WITH NO DATA")
        )

    def stage(self, rows: Sequence[Row]) -> None:
        """COPY validated rows into the scratch table."""
        _copy(self.conn, self.scratch, self.columns, ([row.values.get(c) for c in self.columns] for row in rows))
        self.rows += len(rows)

    def apply(self, by: str | None, reason: str | None) -> Applied:
        """Upsert the staged rows by the kind's natural key (``kind.match``): one UPDATE of the rows
        whose values differ, one INSERT of the new ones, each row the current version of its record;
        what happened to how many."""
        conn, kind, columns, table = self.conn, self.kind, self.columns, self.kind.table
        changed = f"_records_changed_{next(_scratch)}"
        match = " AND ".join(f"t.{c} = i.{c}" for c in kind.match)
        compared = [c for c in columns if c not in kind.match and c not in kind.key]
        old, new = (", ".join(f"{alias}.{c}" for c in compared) for alias in ("t", "i"))
        differs = f"ROW({old}) IS DISTINCT FROM ROW({new})" if compared else "false"
        if kind.soft_delete:
            differs += " OR t.deleted_at IS NOT NULL"
        conn.execute(
            text(f"""CREATE TEMP TABLE {changed} ON COMMIT DROP AS
                     SELECT i.*, t.{kind.match[0]} IS NULL AS is_new FROM {self.scratch} i
                       LEFT JOIN {table} t ON {match} WHERE t.{kind.match[0]} IS NULL OR {differs}""")
        )
        inserted, updated = conn.execute(
            text(f"SELECT count(*) FILTER (WHERE is_new), count(*) FILTER (WHERE NOT is_new) FROM {changed}")
        ).one()
        conn.execute(text(f"ANALYZE {changed}"))  # temporary tables get no statistics by themselves
        when = now(conn)
        params = {"when": when, "by": by, "reason": reason}
        versioned = ["version_from = :when", "version_by = :by", "version_reason = :reason"]
        keys: list[str] = []
        if updated:
            sets = [f"{c} = i.{c}" for c in compared] + versioned
            if kind.soft_delete:
                sets += ["deleted_at = NULL", "deleted_reason = NULL"]
            history.supersede(conn, kind, f"{table} t JOIN {changed} i ON {match} WHERE NOT i.is_new", when)
            keys += conn.scalars(
                text(f"""UPDATE {table} t SET {", ".join(sets)} FROM {changed} i
                          WHERE {match} AND NOT i.is_new RETURNING {key_sql(kind, "t")}"""),
                params,
            )
        if inserted:
            filled = defaults(kind, [name for name in kind.columns if name not in columns])
            names = ", ".join([*columns, *filled, *VERSION_COLUMNS])
            values = ", ".join([f"i.{c}" for c in columns] + [f":d_{c}" for c in filled] + [":when", ":by", ":reason"])
            source = f"{changed} i"
            city = city_of_row(table, columns)
            if city is not None:  # the row's city given, so it is written once, into its partition
                names, values, source = f"{names}, city_code", f"{values}, {city[0]}", source + city[1]
            new_keys = list(
                conn.scalars(
                    text(f"""INSERT INTO {table} ({names}) SELECT {values} FROM {source}
                              WHERE i.is_new RETURNING {key_sql(kind, table)}"""),
                    {**params, **{f"d_{c}": v for c, v in filled.items()}},
                )
            )
            history.close_deleted(conn, kind, new_keys, when)
            keys += new_keys
        conn.execute(text(f"DROP TABLE {self.scratch}, {changed}"))
        effects.run(conn, kind.effects, keys)
        return Applied(inserted, updated, self.rows - inserted - updated, keys)


def lock(conn: Connection, kind: Kind) -> None:
    """Hold the kind's table against other writers until the transaction ends (readers go on): the keys
    stored stay as this writer found them."""
    conn.execute(text(f"LOCK TABLE {kind.table} IN SHARE ROW EXCLUSIVE MODE"))


def apply(conn: Connection, kind: Kind, rows: Sequence[Row], columns: Sequence[str], by: str | None,
          reason: str | None, new: bool | None = None) -> Applied:  # fmt: skip
    """Upsert ``rows`` (their ``columns``) in the caller's transaction: COPYed into the table if none of
    their keys is stored (:func:`insert_new`; ``new``: the caller knows whether, under :func:`lock`),
    else through a scratch table (:class:`Staging`)."""
    lock(conn, kind)
    if new is None:
        new = not any_stored(conn, kind, rows)
    if new and city_of_row(kind.table, columns) is None:
        return insert_new(conn, kind, rows, columns, by, reason)
    staging = Staging(conn, kind, columns)
    staging.stage(rows)
    return staging.apply(by, reason)

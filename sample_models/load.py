"""Load the sample city into PostGIS with COPY, replacing any previous sample city, in one transaction.

BIM models and drawing reviews may point at sample projects; those projects are kept (and updated when the
new city has them again), everything else of the city, the records and the networks is replaced. The DEM is
written as a GeoTIFF under ``data_dir/sample`` and imported with ``gis.dem.import_dem`` (its own transaction)
once the city is in.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from core import city_extents, divisions
from core.db import owner_engine
from core.models import Base
from core.privacy import encrypt_field
from core.settings import get_settings, store_srid
from core.users import upsert_user
from sample_models.city.generate import TABLES, City, generate_city

DEMO_ROLES = ("planner", "engineer", "emergency", "records", "admin")
COPY_CHUNK_ROWS = 200_000
# Emptied outright; nothing outside the sample city refers to them.
# Emptied before a load: the city's tables and what hangs on them (supervision records, versions).
REPLACED = tuple(t for t in TABLES if t not in ("enterprise", "parcel", "project")) + (
    "network_issue",
    "inspection",
    "safety_appraisal",
    "record_version",
)
# The live city's rows about the sensors replaced (alarms, their steps, the rules' state) go with them.
LIVE_TABLES = ("alarm_step", "sensor_state", "alarm")
ROLE_COLUMNS = ("build_unit_uscc", "contractor_uscc", "supervisor_uscc", "designer_uscc", "surveyor_uscc")
LOAD_STEPS = len(TABLES) + 3  # generate, each table, demo users, DEM

Progress = Callable[[int], None]


def table_columns(table: str, frame: pd.DataFrame) -> list[str]:
    """The table's columns that the frame has, in the table's order."""
    return [c.name for c in Base.metadata.tables[table].columns if c.name in frame.columns]


def csv_chunks(table: str, frame: pd.DataFrame, srid: int) -> Iterator[bytes]:
    """The rows as CSV for ``COPY ... (FORMAT csv)``: geometry as EWKB hex, NULL as an empty field."""
    columns = table_columns(table, frame)
    for start in range(0, len(frame), COPY_CHUNK_ROWS):
        chunk = frame.iloc[start : start + COPY_CHUNK_ROWS][columns].copy()
        for column in columns:
            values = chunk[column].to_numpy()
            if values.dtype == object and len(values) and isinstance(values[0], shapely.Geometry):
                chunk[column] = shapely.to_wkb(shapely.set_srid(values, srid), hex=True, include_srid=True)
        buffer = io.StringIO()
        chunk.to_csv(buffer, header=False, index=False, date_format="%Y-%m-%d")
        yield buffer.getvalue().encode()


def _copy(conn: Connection, table: str, frame: pd.DataFrame, srid: int, into: str | None = None) -> int:
    """COPY the frame's rows of ``table`` into ``into`` (default: the table itself)."""
    columns = ", ".join(table_columns(table, frame))
    statement = f"COPY {into or table} ({columns}) FROM STDIN WITH (FORMAT csv)"
    with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for data in csv_chunks(table, frame, srid):
            copy.write(data)
    return len(frame)


def _upsert(conn: Connection, table: str, key: str, frame: pd.DataFrame, srid: int) -> int:
    """COPY into a scratch copy of the table, then insert or update by ``key``."""
    scratch = f"_load_{table}"
    conn.execute(text(f"CREATE TEMP TABLE {scratch} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"))
    _copy(conn, table, frame, srid, into=scratch)
    columns = table_columns(table, frame)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    listed = ", ".join(columns)
    conn.execute(
        text(
            f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {scratch} ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )
    )
    return len(frame)


def _clear(conn: Connection) -> None:
    """Empty the city's tables, keeping projects that BIM models or drawing reviews refer to."""
    conn.execute(text(f"TRUNCATE {', '.join(REPLACED + LIVE_TABLES)} RESTART IDENTITY"))
    kept = (
        "SELECT project_code FROM bim_model WHERE project_code IS NOT NULL "
        "UNION SELECT project_code FROM drawing_review"
    )
    nulls = ", ".join(f"{c} = NULL" for c in (*ROLE_COLUMNS, "parcel_code"))
    conn.execute(text(f"UPDATE project SET {nulls} WHERE code IN ({kept})"))
    conn.execute(text(f"DELETE FROM project WHERE code NOT IN ({kept})"))
    conn.execute(text("DELETE FROM enterprise"))
    conn.execute(text("DELETE FROM parcel"))


def _set_aside_checks(conn: Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the tables' foreign keys and plain indexes and disable their own triggers (as a bulk load
    should: checking and indexing row by row is several times slower); return the statements that put
    them back, and that compute the city partitions' extents again (their triggers did not see the rows)."""
    params = {"tables": list(tables)}
    foreign = conn.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid::regclass::text = ANY(:tables)"
        ),
        params,
    ).all()
    indexes = conn.execute(
        text(
            # a partitioned table's index made again on its partitions too (not ON ONLY the table)
            "SELECT i.indexrelid::regclass::text, replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') "
            "FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(:tables) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        ),
        params,
    ).all()
    for table, name, _ in foreign:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for name, _ in indexes:
        conn.execute(text(f"DROP INDEX {name}"))
    for table in tables:  # e.g. the credit re-score triggers: a loaded city is graded by its generator
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    return (
        [definition for _, definition in indexes]
        + [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in foreign]
        + [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in tables]
        + ([city_extents.REFRESH] if set(tables) & set(divisions.CITY_PARTITIONED) else [])
    )


def write_city(conn: Connection, city: City, progress: Progress | None = None) -> dict[str, int]:
    """Replace the sample city's rows with ``city``'s inside the caller's transaction; return rows per table."""
    srid = store_srid()
    _clear(conn)
    restore = _set_aside_checks(conn, TABLES)
    counts = {}
    for table, frame in city.tables.items():
        if table == "person":
            frame = frame.assign(phone_enc=[encrypt_field(p) for p in frame["phone"]])
        if table == "project":
            counts[table] = _upsert(conn, table, "code", frame, srid)
        else:
            counts[table] = _copy(conn, table, frame, srid)
        if progress:
            progress(1)
    for statement in restore:
        conn.execute(text(statement))
    # the rows' division codes, when divisions are loaded (the load sets the assigning triggers aside)
    divisions.assign(conn, [t for t in TABLES if t in divisions.CODED])
    with Session(bind=conn) as session:
        for role in DEMO_ROLES:
            upsert_user(session, role, f"{role}-demo", role)
        session.flush()
    counts["demo_users"] = len(DEMO_ROLES)
    return counts


def dem_path() -> Path:
    return get_settings().data_dir / "sample" / "dem.tif"


def load_sample_city(buildings: int = 2000, seed: int = 7, progress: Progress | None = None) -> dict[str, int]:
    """Generate the sample city and write it, as the schema's owner (the load drops and remakes
    constraints), into the application's database, replacing any previous
    one; deterministic per seed. ``progress(n)`` advances by one per step (``LOAD_STEPS`` in all).
    Returns the rows written per table, ``demo_users`` and ``dem_tile``."""
    from gis.dem import import_dem

    city = generate_city(buildings, seed)
    if progress:
        progress(1)
    engine = owner_engine()
    with engine.begin() as conn:
        counts = write_city(conn, city, progress)
    if progress:
        progress(1)
    path = city.terrain.write_geotiff(dem_path(), store_srid())
    counts["dem_tile"] = import_dem(path)["tiles"]
    if progress:
        progress(1)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (*TABLES, "dem_tile"):
            conn.execute(text(f"ANALYZE {table}"))
    return counts


def city_digest(city: City) -> dict[str, str]:
    """SHA-256 per table of exactly the bytes COPY would send, and of the DEM (for reproducibility checks)."""
    srid = store_srid()
    digests = {}
    for table, frame in city.tables.items():
        h = hashlib.sha256()
        for data in csv_chunks(table, frame, srid):
            h.update(data)
        digests[table] = h.hexdigest()
    digests["dem"] = hashlib.sha256(np.ascontiguousarray(city.terrain.heights).tobytes()).hexdigest()
    return digests

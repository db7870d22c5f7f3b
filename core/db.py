"""Database engine and sessions (SQLAlchemy 2 with psycopg 3)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
import psycopg._queries
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core import cluster
from core.errors import NotFound, UserError
from core.settings import get_settings, on_configure, store_srid

log = logging.getLogger("cim.db")


class DatabaseUnavailable(UserError):
    """No database can be reached; the message says what to do."""

    status_code = 503


def database_url(read_only: bool = False) -> str:
    """``DATABASE_URL`` when set, else the local cluster's URL; for read-only work
    ``DATABASE_READ_URL`` when set (a standby)."""
    settings = get_settings()
    url = (settings.database_read_url if read_only else None) or settings.database_url
    if url:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise DatabaseUnavailable(f"DATABASE_URL is not a database URL: {url!r}") from exc
        if parsed.drivername in ("postgresql", "postgres", "postgis"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    state = cluster.status()
    if not state.running or state.url is None:
        raise DatabaseUnavailable("no database: run `cim db up` (or set DATABASE_URL to a PostGIS)")
    return state.url


def owner_url() -> str:
    """The URL of the role that owns the schema (migrations, bulk loads, partition upkeep):
    ``CIM_OWNER_DATABASE_URL``; else, with DATABASE_URL, that one (a single role); else the local
    cluster's owner."""
    settings = get_settings()
    if settings.owner_database_url:
        owner = make_url(settings.owner_database_url).set(drivername="postgresql+psycopg")
        if not settings.database_url or _place(owner) == _place(make_url(database_url())):
            return owner.render_as_string(False)
        # an owner URL inherited for another database (a process pointed elsewhere by DATABASE_URL alone)
        log.warning("CIM_OWNER_DATABASE_URL names another database than DATABASE_URL: not used")
    if settings.database_url:
        return database_url()
    state = cluster.status()
    if not state.running or state.owner_url is None:
        raise DatabaseUnavailable("no database: run `cim db up` (or set DATABASE_URL to a PostGIS)")
    return state.owner_url


def _place(url: URL) -> tuple:
    """Which database a URL names: hosts, ports, database name."""
    return (url.host, url.port, url.database, url.query.get("host"), url.query.get("port"))


def application_role() -> str:
    """The role the application connects as."""
    return str(make_url(database_url()).username)


@lru_cache
def owner_engine() -> Engine:
    """A small engine of the schema's owner; the application's own when they are the same role."""
    url = owner_url()
    if make_url(url) == make_url(database_url()):
        return get_engine()
    return create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)


# Partitions, however small, are planned with parallel workers (PostgreSQL's minimum table size for them
# applies to plain tables only): a read of a few rows planned anew for its values (within) then waits for a
# worker to start (1-20 ms on a busy machine) to save a fraction of a millisecond. Where no setting is made
# already, two more round trips cost more than that (vector tiles: bench/partitioning).
_PLANNER = (
    "SELECT set_config(s.name, s.value, false)"
    " FROM unnest(CAST(:names AS text[]), CAST(:values AS text[])) AS s(name, value)"
)
_RESET = "SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = ANY(CAST(:names AS text[]))"


@contextmanager
def planner_settings(
    conn: Connection, *, plan_cache_mode: str | None = None, parallel: bool = True
) -> Iterator[Connection]:
    """``conn`` planning its statements in ``plan_cache_mode`` (``force_generic_plan`` or ``force_custom_plan``)
    and, unless ``parallel``, without parallel workers while inside; back to the defaults after (session
    settings: the read connections autocommit). One round trip to set them, one to reset them."""
    values = {}
    if plan_cache_mode is not None:
        if plan_cache_mode not in ("force_generic_plan", "force_custom_plan"):
            raise ValueError(f"no plan cache mode {plan_cache_mode}")
        values["plan_cache_mode"] = plan_cache_mode
    if not parallel:
        values["max_parallel_workers_per_gather"] = "0"
    if not values:
        yield conn
        return
    names = list(values)
    conn.execute(text(_PLANNER), {"names": names, "values": list(values.values())})
    try:
        yield conn
    finally:
        conn.execute(text(_RESET), {"names": names})


def driver_cursor(conn: Connection) -> psycopg.Cursor:
    """A cursor of ``conn``'s own psycopg connection, in its transaction: COPY, and rows as plain tuples."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver.cursor()


POOL_SIZE = 24
# psycopg converts a statement's text to PostgreSQL's form (its parameters found by a regular expression)
# through a cache only for statements up to 4 kB; the search statement is ~10 kB, so each request read it
# again. Statements this long, made once per form by this project (not by an ORM), are cached too.
_MAX_CACHED_STATEMENT = 64 * 1024
psycopg._queries.MAX_CACHED_STATEMENT_LENGTH = _MAX_CACHED_STATEMENT


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine: a fixed pool whose connections are warmed once, since a
    backend's first ST_Transform of each CRS pair sets PROJ up (about 200 ms), and run without JIT
    (its compile time, ~40 ms, outweighs what it saves on the API's short queries)."""
    return _warmed(
        create_engine(database_url(), pool_size=POOL_SIZE, max_overflow=0, pool_timeout=30, pool_pre_ping=True)
    )


def _warmed(engine: Engine) -> Engine:
    """``engine`` with every new connection warmed (no JIT, PROJ loaded)."""
    srid = store_srid()

    @event.listens_for(engine, "connect")
    def warm(dbapi_connection, connection_record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
            cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
            if cursor.fetchone():
                # each CRS pair a backend first meets costs it the PROJ set-up: the API's pairs now
                point = f"ST_Transform(ST_SetSRID(ST_MakePoint(120, 31.8), 4326), {int(srid)})"
                cursor.execute(
                    f"SELECT ST_Transform({point}, 4326), ST_Transform({point}, 3857), ST_Transform({point}, 4490),"
                    f" ST_Transform(ST_Transform({point}, 4490), {int(srid)}),"
                    f" ST_Transform(ST_Transform({point}, 3857), {int(srid)})"
                )
        dbapi_connection.commit()

    return engine


def prefill_pool(count: int) -> None:
    """Open ``count`` pooled connections now, at once (each warmed as above), so that the first
    requests do not each wait for one. Those opened go back to the pool even if another fails."""
    engine = get_engine()
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(engine.connect) for _ in range(min(count, POOL_SIZE))]
    try:
        for future in futures:
            future.result()
    finally:
        for future in futures:
            if future.exception() is None:
                future.result().close()


@lru_cache
def _standby_engine() -> Engine | None:
    """A pool of its own on ``DATABASE_READ_URL``, or None when reads share the primary's."""
    if not get_settings().database_read_url:
        return None
    url = database_url(read_only=True)
    return _warmed(create_engine(url, pool_size=POOL_SIZE // 2, max_overflow=0, pool_timeout=30, pool_pre_ping=True))


def read_engine() -> Engine:
    """The engine for read-only requests: the same pool, in autocommit. Reads then cost no BEGIN and
    ROLLBACK round trips, and psycopg keeps its prepared statements from one request to the next
    (it drops them all on every ROLLBACK, and planning the API's larger statements anew costs ~1 ms).
    Each statement sees its own snapshot. With ``DATABASE_READ_URL`` set, a standby's pool."""
    return _autocommit(_standby_engine() or get_engine())


def reads_on_primary() -> bool:
    """Whether :func:`read_engine`'s connections are the primary's (no standby configured), so a
    read-only request may also write there, e.g. its audit row."""
    return _standby_engine() is None


@lru_cache(maxsize=1)
def _autocommit(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@lru_cache
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


@on_configure
def _forget_engine() -> None:
    """Other settings, maybe another database: the next use makes a new engine (the old one's
    connections close when its last user lets it go)."""
    for cached in (get_engine, _standby_engine, owner_engine, _autocommit, _session_factory):
        cached.cache_clear()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    session = _session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


T = TypeVar("T")


def get_row(session: Session, model: type[T], key: Any, message: str | None = None, *, lock: bool = False) -> T:
    """The row of ``model`` with primary key ``key`` (locked for update with ``lock``); NotFound
    with ``message`` (or a plain one) when there is none."""
    found = session.get(model, key, with_for_update=lock)
    if found is None:
        raise NotFound(message or f"{model.__name__} {key} does not exist")
    return found


def check_connection(engine: Engine | None = None) -> str:
    """PostGIS version string, or a clear DatabaseUnavailable."""
    try:
        with (engine or get_engine()).connect() as conn:
            return str(conn.execute(text("SELECT postgis_lib_version()")).scalar_one())
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(f"cannot reach the database ({reason}): check DATABASE_URL or `cim db up`") from exc

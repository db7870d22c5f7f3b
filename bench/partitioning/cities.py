"""Buildings, house units, pipes and nodes flat (migration 0021) against partitioned by city (0022, with
the city extents of 0025), side by side in one run.

Two scratch databases on the same server, both made at 0021 with the same synthetic province: ``--cities``
city-level divisions (2 km squares in a grid, under one province), in each ``--per-city`` buildings (20 m
squares 40 m apart, the division trigger giving their codes), two house units each, a water node beside
each building and a pipe between consecutive nodes. One of them is then converted in place to 0022 (timed)
and migrated to the head. On each, in turns (the same machine noise for all): identify at a point
(``gis.analysis.identify.pick`` then ``identify``, as ``GET /query/identify?lon=&lat=`` runs them) at random
building centres, identify by id (``?layer=buildings&id=``), a within over a 300 m square inside one city
(``gis.analysis.within``), the statistics of one city (``gis.analysis.divisions.statistics``), a gas leak
of 200 m around a building (``gis.analysis.incident``), excavation and clearance checks over the 300 m
square, the z16 vector tile of buildings and of pipelines at the building (as ``GET /mvt/...`` makes it)
and OGC items with the 300 m square as a CRS84 bbox (``core.ogc.query.items``); p50 and p99 of the per-call
times on one connection each in autocommit with psycopg's prepared statements, as the API's read pool,
after a first unmeasured pass of the same calls (each statement prepared, as in a running server), in which
the flat and the partitioned answers are compared. The flat database is asked by the modules as they were
before 0022 (identify, statistics) or 0025 (the spatial reads), read from git (the parent of the commit
that added the migration); the partitioned one by today's, by the spatial reads as they were before 0025
(its own connection), and by today's on a connection with ``max_parallel_workers_per_gather = 0``. Writes
its section of bench/partitioning/RESULTS.md.

    .venv/bin/python bench/partitioning/cities.py [--cities 12] [--per-city 2000] [--calls 300]
"""

from __future__ import annotations

import argparse
import importlib
import math
import random
import statistics
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pyproj import Transformer
from shapely import Point, box
from sqlalchemy import Connection, Engine, create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.partitioning.results import write_section  # noqa: E402
from core.registry import registry  # noqa: E402

SIDE_M = 2000.0
SPACING_M = 40.0
X0, Y0 = 500000.0, 3400000.0
HEADING = "# Buildings, house units, pipes and nodes: flat against partitioned by city"
# The flat database, the partitioned one asked as before 0025 and as today, and as today on connections without
# parallel workers.
KINDS = ("flat", "before", "part", "serial")


def _origin(city: int) -> tuple[float, float]:
    return X0 + (city % 4) * SIDE_M, Y0 + (city // 4) * SIDE_M


def _populate(engine: Engine, cities: int, per_city: int, srid: int) -> None:
    """The province, its cities and their rows (SQL set-based; the division trigger codes each row)."""
    across = int(SIDE_M // SPACING_M) - 1
    with engine.begin() as conn:
        rows = (cities + 3) // 4
        conn.execute(
            text(
                "INSERT INTO division (code, level, name, geom) VALUES ('420000000000', 1, 'P', "
                "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, :srid)))"
            ),
            {"x0": X0, "y0": Y0, "x1": X0 + 4 * SIDE_M, "y1": Y0 + rows * SIDE_M, "srid": srid},
        )
        for city in range(cities):
            x, y = _origin(city)
            code = f"42{city + 1:02d}"
            conn.execute(
                text(
                    "INSERT INTO division (code, parent_code, level, name, geom) VALUES (:code, '420000000000', 2, "
                    ":name, ST_Multi(ST_MakeEnvelope(:x, :y, :x + :side, :y + :side, :srid)))"
                ),
                {"code": code + "00000000", "name": f"C{code}", "x": x, "y": y, "side": SIDE_M, "srid": srid},
            )
            grid = {"code": code, "x": x, "y": y, "n": per_city, "across": across, "s": SPACING_M, "srid": srid}
            conn.execute(
                text(
                    """INSERT INTO building (code, floors_below, floors_above, height_m, use, footprint)
                       SELECT 'B' || :code || lpad(i::text, 6, '0'), 0, 6, 18, 'residential',
                              ST_MakeEnvelope(:x + 10 + (i % :across) * :s, :y + 10 + (i / :across) * :s,
                                              :x + 30 + (i % :across) * :s, :y + 30 + (i / :across) * :s, :srid)
                         FROM generate_series(0, :n - 1) AS i"""
                ),
                grid,
            )
            conn.execute(
                text(
                    """INSERT INTO house_unit (id, building_code, unit_no, floor, area_m2, residents)
                       SELECT 'U' || :code || lpad(i::text, 6, '0') || u, 'B' || :code || lpad(i::text, 6, '0'),
                              u::text, u, 80, 2
                         FROM generate_series(0, :n - 1) AS i, generate_series(1, 2) AS u"""
                ),
                grid,
            )
            conn.execute(
                text(
                    """INSERT INTO pipe_node (id, utility, kind, is_open, geom)
                       SELECT 'N' || :code || lpad(i::text, 6, '0'), 'water', 'junction', true,
                              ST_SetSRID(ST_MakePoint(:x + 35 + (i % :across) * :s,
                                                      :y + 35 + (i / :across) * :s, -1.5), :srid)
                         FROM generate_series(0, :n - 1) AS i"""
                ),
                grid,
            )
            conn.execute(
                text(
                    """INSERT INTO pipeline (id, utility, depth_ref, status, from_node, to_node, diameter_mm,
                                             install_year, geom)
                       SELECT 'P' || :code || lpad(i::text, 6, '0'), 'water', 'top', 'in_service',
                              a.id, b.id, 200, 2000 + i % 20, ST_MakeLine(a.geom, b.geom)
                         FROM generate_series(0, :n - 2) AS i
                         JOIN pipe_node a ON a.id = 'N' || :code || lpad(i::text, 6, '0')
                         JOIN pipe_node b ON b.id = 'N' || :code || lpad((i + 1)::text, 6, '0')"""
                ),
                grid,
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


# The modules each database is asked by, by role: identify and a division's statistics changed with 0022 (the
# flat database asks them as before it), the spatial reads with 0025 (the flat database, and the partitioned
# one "before", ask them as before it).
MODULES = {
    "identify": ("gis.analysis.identify", "0022_city_partitions"),
    "divisions": ("gis.analysis.divisions", "0022_city_partitions"),
    "within": ("gis.analysis.within", "0025_city_extents"),
    "incident": ("gis.analysis.incident", "0025_city_extents"),
    "excavation": ("gis.analysis.excavation", "0025_city_extents"),
    "clearance": ("gis.analysis.clearance", "0025_city_extents"),
    "mvt": ("spatial_api.routers.mvt", "0025_city_extents"),
    "ogc": ("core.ogc.query", "0025_city_extents"),
}


def _before(module: str, migration: str) -> types.ModuleType:
    """``module`` as it was before ``migration`` was added (its source from git). Before 0025 within set its
    plan cache mode by ``core.db.plan_cache_mode`` (now ``planner_settings``): given to it as that."""
    import core.db

    if not hasattr(core.db, "plan_cache_mode"):
        core.db.plan_cache_mode = lambda conn, mode: core.db.planner_settings(conn, plan_cache_mode=mode)  # type: ignore[attr-defined]
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", f"core/migrations/versions/{migration}.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    path = module.replace(".", "/") + ".py"
    source = subprocess.run(
        ["git", "show", f"{added}^:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    old = types.ModuleType(f"{module}_before_{migration[:4]}")
    old.__file__ = str(ROOT / path)
    sys.modules[old.__name__] = old  # its dataclasses look their module up
    exec(compile(source, old.__file__, "exec"), old.__dict__)  # noqa: S102 (the project's own source)
    return old


def _modules(kind: str) -> dict[str, types.ModuleType]:
    """The modules a kind of run asks by (see MODULES)."""
    today = {role: importlib.import_module(module) for role, (module, _) in MODULES.items()}
    if kind == "flat":
        return {role: _before(module, migration) for role, (module, migration) in MODULES.items()}
    if kind == "before":
        return today | {r: _before(m, g) for r, (m, g) in MODULES.items() if g == "0025_city_extents"}
    return today


def _timed(conn: Connection, call: Callable[[Connection], object]) -> float:
    began = time.perf_counter()
    call(conn)
    return (time.perf_counter() - began) * 1000


def _tile(mvt: types.ModuleType, conn: Connection, layer: str, params: dict) -> bytes:
    """A vector tile as ``GET /mvt/{layer}/{z}/{x}/{y}.pbf`` makes it, by this version of the router (before
    0025 the router ran its statement itself)."""
    collection = registry().layer(layer)
    if hasattr(mvt, "tile_data"):
        return mvt.tile_data(conn, collection, params)
    return bytes(conn.execute(mvt._statement(mvt.tile_sql(collection)), params).scalar() or b"")


def _calls(
    cities: int, per_city: int, count: int, srid: int, m: dict[str, types.ModuleType]
) -> dict[str, list[Callable[[Connection], object]]]:
    """The same calls (by these modules) for one database: identify at a point and by id, within, statistics,
    incident, excavation, clearance, a vector tile of buildings and of pipelines, OGC items with a bbox."""
    to_lonlat = Transformer.from_crs(srid, 4326, always_xy=True).transform
    rng = random.Random(7)
    across = int(SIDE_M // SPACING_M) - 1
    calls: dict[str, list[Callable[[Connection], object]]] = {}

    def add(measure: str, call: Callable[[Connection], object]) -> None:
        calls.setdefault(measure, []).append(call)

    for _ in range(count):
        city, i = rng.randrange(cities), rng.randrange(per_city)
        x, y = _origin(city)
        centre = Point(x + 20 + (i % across) * SPACING_M, y + 20 + (i // across) * SPACING_M)
        code = f"B42{city + 1:02d}{i:06d}"

        def point_call(conn: Connection, at: Point = centre) -> object:
            layer, fid = m["identify"].pick(conn, at)
            return m["identify"].identify(conn, layer, fid, False)

        add("identify at a point", point_call)
        add("identify by id", lambda conn, fid=code: m["identify"].identify(conn, "buildings", fid, False))
        area = box(x + 100, y + 100, x + 400, y + 400)
        add("within 300 m", lambda conn, a=area: m["within"].within(conn, a, srid, 2026))
        add("statistics of a city", lambda conn, c=f"42{city + 1:02d}": m["divisions"].statistics(conn, c, None))
        add(
            "incident, gas leak 200 m",
            lambda conn, at=centre: m["incident"].incident(conn, "gas_leak", at, 200.0, False),
        )
        add("excavation 300 m", lambda conn, a=area: m["excavation"].excavation(conn, a, 3.0))
        add("clearance 300 m", lambda conn, a=area: m["clearance"].clearance(conn, a))
        lon, lat = to_lonlat(centre.x, centre.y)
        n = 2**16
        tile = {"z": 16, "x": int((lon + 180) / 360 * n), "tolerance": 0.0, "min_area": 0.0}
        tile["y"] = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        for layer in ("buildings", "pipelines"):
            add(
                f"vector tile z16, {layer}", lambda conn, t=tile, la=layer: _tile(m["mvt"], conn, la, t | {"layer": la})
            )
        corners = (*to_lonlat(area.bounds[0], area.bounds[1]), *to_lonlat(area.bounds[2], area.bounds[3]))
        add(
            "OGC items, bbox 300 m",
            lambda conn, c=corners: m["ogc"].items(conn, m["ogc"].Items(layer=registry().layer("buildings"), bbox=c)),
        )
    return calls


def _same(a: object, b: object) -> bool:
    """Whether two answers agree (pipe lengths summed in another order: to the centimetre)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) < 0.01
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cities", type=int, default=12)
    parser.add_argument("--per-city", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    from core import migrate
    from core.settings import store_srid
    from tests.conftest import _server_url, create_database, drop_database

    load = [Path("/proc/loadavg").read_text().split()[:3]]
    server = _server_url()
    srid = store_srid()
    names = {kind: f"cim_bench_city_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("flat", "part")}
    engines = {kind: create_engine(create_database(server, name)) for kind, name in names.items()}
    times: dict[str, dict[str, list[float]]] = {kind: {} for kind in KINDS}
    differ: dict[str, int] = {}
    try:
        for engine in engines.values():
            migrate.upgrade(engine, "0021")
            _populate(engine, args.cities, args.per_city, srid)
        began = time.perf_counter()
        migrate.upgrade(engines["part"], "0022")
        convert_s = time.perf_counter() - began
        migrate.upgrade(engines["part"])
        with engines["part"].connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
            partitions = conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'building'::regclass")
            ).scalar_one()
        calls = {kind: _calls(args.cities, args.per_city, args.calls, srid, _modules(kind)) for kind in KINDS}
        serial = create_engine(engines["part"].url, connect_args={"options": "-c max_parallel_workers_per_gather=0"})
        on = {"flat": engines["flat"], "before": engines["part"], "part": engines["part"], "serial": serial}
        conns = {kind: on[kind].connect().execution_options(isolation_level="AUTOCOMMIT") for kind in KINDS}
        for measure in calls["part"]:
            differ[measure] = 0
            for n in range(args.calls):  # a first pass: each statement prepared, as in a running server
                answers = {kind: calls[kind][measure][n](conns[kind]) for kind in KINDS}
                differ[measure] += not _same(answers["flat"], answers["part"])
            for kind in KINDS:
                times[kind][measure] = []
            for n in range(args.calls):
                for kind in KINDS if n % 2 == 0 else KINDS[::-1]:
                    times[kind][measure].append(_timed(conns[kind], calls[kind][measure][n]))
        for conn in conns.values():
            conn.close()
        serial.dispose()
        with engines["part"].connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM building")).scalar_one()
    finally:
        for engine in engines.values():
            engine.dispose()
        for name in names.values():
            drop_database(server, name)
    load.append(Path("/proc/loadavg").read_text().split()[:3])

    def p(kind: str, measure: str, q: int) -> float:
        values = sorted(times[kind][measure])
        return values[len(values) // 2] if q == 50 else statistics.quantiles(values, n=100)[q - 1]

    lines = [
        HEADING,
        "",
        f"Method: the docstring of `bench/partitioning/cities.py`; {args.cities} cities, {rows:,} buildings "
        f"({args.per_city:,} a city), as many nodes, {2 * rows:,} house units, a pipe between consecutive nodes; "
        f"{partitions} partitions per table (the cities and the default); {args.calls} calls of each kind; run "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on the shared 2-core machine (other work running; load average "
        f'{" ".join(load[0])} at the start, {" ".join(load[1])} at the end). "before 0025": the partitioned '
        "database asked by the spatial reads as they were before they named their cities (migration 0025).",
        "",
        "| call | p50 ms: flat | partitioned, before 0025 | partitioned | before / flat | **partitioned / flat** "
        "| partitioned, no parallel workers | p99 ms: flat | before 0025 | partitioned | answers differing |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for measure in calls["part"]:
        flat50, before50, part50 = (p(kind, measure, 50) for kind in ("flat", "before", "part"))
        tile = " (tile bytes: order of features)" if measure.startswith("vector tile") else ""
        lines.append(
            f"| {measure} | {flat50:.2f} | {before50:.2f} | {part50:.2f} | {before50 / flat50:.2f} "
            f"| **{part50 / flat50:.2f}** | {p('serial', measure, 50):.2f} | {p('flat', measure, 99):.2f} "
            f"| {p('before', measure, 99):.2f} | {p('part', measure, 99):.2f} | {differ[measure]}{tile} |"
        )
    lines += ["", f"Conversion in place (0021 → 0022) of {rows:,} buildings with their rows: {convert_s:.1f} s.", ""]
    write_section(Path(__file__).parent / "RESULTS.md", HEADING, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Buildings, house units, pipes and nodes flat (migration 0021) against partitioned by city (0022), side by
side in one run.

Two scratch databases on the same server, both made at 0021 with the same synthetic province: ``--cities``
city-level divisions (2 km squares in a grid, under one province), in each ``--per-city`` buildings (20 m
squares 40 m apart, the division trigger giving their codes), two house units each, a water node beside
each building and a pipe between consecutive nodes. One of them is then converted in place to 0022 (timed).
On each, in turns (the same machine noise for both): identify at a point (``gis.analysis.identify.pick``
then ``identify``, as ``GET /query/identify?lon=&lat=`` runs them) at random building centres, identify by
id (``?layer=buildings&id=``), a within over a 300 m square inside one city (``gis.analysis.within``) and the
statistics of one city (``gis.analysis.divisions.statistics``); p50 and p99 of the per-call times on one
connection in autocommit with psycopg's prepared statements, as the API's read pool, after a first
unmeasured pass of the same calls (each statement prepared, as in a running server); the partitioned
database also on a connection with ``max_parallel_workers_per_gather = 0``. The flat database is
asked by the identify and statistics modules as they were before 0022 (read from git: the parent of the
commit that added the migration), the partitioned one by today's. Writes its section of
bench/partitioning/RESULTS.md.

    .venv/bin/python bench/partitioning/cities.py [--cities 12] [--per-city 2000] [--calls 300]
"""

from __future__ import annotations

import argparse
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

from shapely import Point, box
from sqlalchemy import Connection, Engine, create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.partitioning.results import write_section  # noqa: E402

SIDE_M = 2000.0
SPACING_M = 40.0
X0, Y0 = 500000.0, 3400000.0
HEADING = "# Buildings, house units, pipes and nodes: flat against partitioned by city"
# The flat database, the partitioned one, and the partitioned one on connections without parallel workers.
KINDS = ("flat", "part", "serial")


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


def _before_0022(module: str) -> types.ModuleType:
    """``module`` as it was before migration 0022 (its source from git), for the flat database."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "core/migrations/versions/0022_city_partitions.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    path = module.replace(".", "/") + ".py"
    source = subprocess.run(
        ["git", "show", f"{added}^:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    old = types.ModuleType(f"{module}_before_0022")
    old.__file__ = str(ROOT / path)
    exec(compile(source, old.__file__, "exec"), old.__dict__)  # noqa: S102 (the project's own source)
    return old


def _timed(conn: Connection, call: Callable[[Connection], object]) -> float:
    began = time.perf_counter()
    call(conn)
    return (time.perf_counter() - began) * 1000


def _calls(
    cities: int, per_city: int, count: int, srid: int, identify: types.ModuleType, divisions: types.ModuleType
) -> dict[str, list[Callable[[Connection], object]]]:
    """The same calls (by these modules) for one database: identify at a point and by id, within, statistics."""
    from gis.analysis import within

    rng = random.Random(7)
    across = int(SIDE_M // SPACING_M) - 1
    at_point: list[Callable[[Connection], object]] = []
    by_id: list[Callable[[Connection], object]] = []
    areas: list[Callable[[Connection], object]] = []
    stats: list[Callable[[Connection], object]] = []
    for _ in range(count):
        city, i = rng.randrange(cities), rng.randrange(per_city)
        x, y = _origin(city)
        centre = Point(x + 20 + (i % across) * SPACING_M, y + 20 + (i // across) * SPACING_M)
        code = f"B42{city + 1:02d}{i:06d}"

        def point_call(conn: Connection, at: Point = centre) -> object:
            layer, fid = identify.pick(conn, at)
            return identify.identify(conn, layer, fid, False)

        at_point.append(point_call)
        by_id.append(lambda conn, fid=code: identify.identify(conn, "buildings", fid, False))
        area = box(x + 100, y + 100, x + 400, y + 400)
        areas.append(lambda conn, a=area: within.within(conn, a, srid, 2026))
        stats.append(lambda conn, c=f"42{city + 1:02d}": divisions.statistics(conn, c, None))
    return {
        "identify at a point": at_point,
        "identify by id": by_id,
        "within 300 m": areas,
        "statistics of a city": stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cities", type=int, default=12)
    parser.add_argument("--per-city", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    from core import migrate
    from core.settings import store_srid
    from tests.conftest import _server_url, create_database, drop_database

    server = _server_url()
    srid = store_srid()
    names = {kind: f"cim_bench_city_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("flat", "part")}
    engines = {kind: create_engine(create_database(server, name)) for kind, name in names.items()}
    times: dict[str, dict[str, list[float]]] = {kind: {} for kind in KINDS}
    try:
        for engine in engines.values():
            migrate.upgrade(engine, "0021")
            _populate(engine, args.cities, args.per_city, srid)
        began = time.perf_counter()
        migrate.upgrade(engines["part"], "0022")
        convert_s = time.perf_counter() - began
        with engines["part"].connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
            partitions = conn.execute(
                text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'building'::regclass")
            ).scalar_one()
        from gis.analysis import divisions, identify

        before = (_before_0022("gis.analysis.identify"), _before_0022("gis.analysis.divisions"))
        modules = {"flat": before, "part": (identify, divisions), "serial": (identify, divisions)}
        calls = {kind: _calls(args.cities, args.per_city, args.calls, srid, *modules[kind]) for kind in modules}
        serial = create_engine(engines["part"].url, connect_args={"options": "-c max_parallel_workers_per_gather=0"})
        conns = {
            kind: engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            for kind, engine in (("flat", engines["flat"]), ("part", engines["part"]), ("serial", serial))
        }
        for measure in calls["part"]:
            for n in range(args.calls):  # a first pass: each statement prepared, as in a running server
                for kind in KINDS:
                    calls[kind][measure][n](conns[kind])
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

    def p(kind: str, measure: str, q: int) -> float:
        values = sorted(times[kind][measure])
        return values[len(values) // 2] if q == 50 else statistics.quantiles(values, n=100)[q - 1]

    lines = [
        HEADING,
        "",
        f"Method: the docstring of `bench/partitioning/cities.py`; {args.cities} cities, {rows:,} buildings "
        f"({args.per_city:,} a city), as many nodes, {2 * rows:,} house units, a pipe between consecutive nodes; "
        f"{partitions} partitions per table (the cities and the default); {args.calls} calls of each kind; run "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on the shared 2-core machine (other work running).",
        "",
        "| call | p50 ms: flat | partitioned | partitioned / flat | partitioned, no parallel workers "
        "| p99 ms: flat | partitioned | partitioned, no parallel workers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for measure in calls["part"]:
        flat50, part50 = p("flat", measure, 50), p("part", measure, 50)
        lines.append(
            f"| {measure} | {flat50:.2f} | {part50:.2f} | {part50 / flat50:.2f} | {p('serial', measure, 50):.2f} "
            f"| {p('flat', measure, 99):.2f} | {p('part', measure, 99):.2f} | {p('serial', measure, 99):.2f} |"
        )
    lines += ["", f"Conversion in place (0021 → 0022) of {rows:,} buildings with their rows: {convert_s:.1f} s.", ""]
    write_section(Path(__file__).parent / "RESULTS.md", HEADING, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

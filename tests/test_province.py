"""A province across several 3-degree zones: five levels of divisions, every row with its division code,
statistics, search and exports by division, each checked against an independent computation (Python
over the generated province, or SQL that does not read the division codes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pyproj
import pytest
import shapely
from sqlalchemy import text

from core.settings import store_srid
from tests.fixtures_province import PROVINCE_CITIES

PREFIX = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}


def _villages(generated) -> tuple[list[str], np.ndarray]:
    frame = generated.divisions[generated.divisions["level"] == 5]
    return list(frame["code"]), frame["geom"].to_numpy()


def _village_of(generated, geoms: np.ndarray) -> list[str | None]:
    """The village holding a point on each geometry's surface, by shapely (not PostGIS)."""
    codes, polygons = _villages(generated)
    points = shapely.point_on_surface(shapely.force_2d(geoms))
    tree = shapely.STRtree(polygons)
    found: list[str | None] = [None] * len(points)
    for point_index, polygon_index in zip(*tree.query(points, predicate="intersects"), strict=True):
        if found[point_index] is None or codes[polygon_index] > found[point_index]:
            found[point_index] = codes[polygon_index]
    return found


def _zone_measure(generated, table: str, measure) -> dict[str, float]:
    """Per city (the key's prefix), ``measure`` of each row's geometry transformed to the city's zone."""
    zones = dict(zip(generated.divisions["code"].str[:4], generated.divisions["zone_srid"], strict=True))
    frame = generated.tables[table]
    key = "code" if table == "building" else "id"
    column = "footprint" if table == "building" else "geom"
    out: dict[str, float] = defaultdict(float)
    for city, rows in frame.groupby(frame[key].str[:4]):
        to_zone = pyproj.Transformer.from_crs(store_srid(), int(zones[city]), always_xy=True)
        moved = shapely.transform(
            shapely.force_2d(rows[column].to_numpy()),
            lambda c, t=to_zone: np.column_stack(t.transform(c[:, 0], c[:, 1])),
        )
        out[city] = float(measure(moved).sum())
    return out


@pytest.fixture(scope="module")
def planner(province, client) -> dict[str, str]:
    """Bearer headers of the province database's planner."""
    token = client.post("/api/v1/auth/token", data={"username": "planner", "password": "planner-demo"}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_five_levels_with_codes(province) -> None:
    generated = province["generated"]
    with province["engine"].connect() as conn:
        rows = conn.execute(
            text("SELECT code, parent_code, level, division_level(code), division_prefix(code) FROM division")
        ).all()
    levels = Counter(r.level for r in rows)
    assert levels == {1: 1, 2: PROVINCE_CITIES, 3: 4 * PROVINCE_CITIES, 4: 8 * PROVINCE_CITIES, 5: 16 * PROVINCE_CITIES}
    by_code = {r.code: r for r in rows}
    for r in rows:
        assert len(r.code) == 12 and r.code.isdigit()
        assert r[3] == r.level and r[4] == r.code[: PREFIX[r.level]]
        if r.level > 1:  # a child's code starts with its parent's prefix, one level up
            parent = by_code[r.parent_code]
            assert parent.level == r.level - 1 and r.code.startswith(r.parent_code[: PREFIX[parent.level]])
    # the cities lie in several 3-degree zones
    assert len(set(generated.divisions.loc[generated.divisions["level"] == 2, "zone_srid"])) >= 2


def test_every_row_carries_its_division(province) -> None:
    """The codes the writer found as it made each city, against the village shapely finds (its own index)
    and against PostGIS's deepest division holding a point on the row's surface."""
    generated = province["generated"]
    with province["engine"].connect() as conn:
        for table, key, column in (("building", "code", "footprint"), ("pipeline", "id", "geom")):
            stored = dict(conn.execute(text(f"SELECT {key}, division_code FROM {table}")).all())
            frame = generated.tables[table]
            expected = dict(zip(frame[key], _village_of(generated, frame[column].to_numpy()), strict=True))
            assert stored == expected
            assert None not in stored.values()
            # a row lies in the city it was generated for
            assert all(code[:4] == k[:4] for k, code in stored.items())
            by_postgis = dict(
                conn.execute(
                    text(
                        f"""SELECT DISTINCT ON (t.{key}) t.{key}, d.code FROM {table} t JOIN division d
                         ON ST_Intersects(d.geom, ST_PointOnSurface(ST_Force2D(t.{column})))
                         ORDER BY t.{key}, d.level DESC, d.code"""
                    )
                ).all()
            )
            assert by_postgis == stored
        located = {
            "project": "coalesce(t.footprint, (SELECT p.geom FROM parcel p WHERE p.code = t.parcel_code))",
            "pipe_node": "t.geom",
            "enterprise": "t.location",
        }
        for table, geom in located.items():
            missing = conn.execute(text(f"SELECT count(*) FROM {table} WHERE division_code IS NULL")).scalar_one()
            assert missing == 0, table
            wrong = f"SELECT count(*) FROM {table} t WHERE t.division_code <> division_at({geom})"
            assert conn.execute(text(wrong)).scalar_one() == 0, table


def test_statistics_by_city_match_python(province, client, planner) -> None:
    generated = province["generated"]
    answer = client.get("/api/v1/statistics/divisions", params={"division": "42", "group_by": "city"}, headers=planner)
    assert answer.status_code == 200, answer.text
    groups = {g["code"][:4]: g for g in answer.json()["groups"]}
    buildings = Counter(generated.tables["building"]["code"].str[:4])
    pipelines = Counter(generated.tables["pipeline"]["id"].str[:4])
    assert {c: g["buildings"] for c, g in groups.items()} == dict(buildings)
    assert {c: g["pipelines"] for c, g in groups.items()} == dict(pipelines)
    areas = _zone_measure(generated, "building", shapely.area)
    lengths = _zone_measure(generated, "pipeline", shapely.length)
    for city, group in groups.items():
        assert group["building_footprint_m2"] == pytest.approx(areas[city], rel=1e-9)
        assert group["pipeline_km"] == pytest.approx(lengths[city] / 1000, rel=1e-9)
    assert answer.json()["total"]["buildings"] == len(generated.tables["building"])
    # the store's own projection (120°E) would have stretched the western cities' areas by several %
    with province["engine"].connect() as conn:
        store_area = conn.execute(text("SELECT sum(ST_Area(footprint)) FROM building WHERE code LIKE '4201%'")).scalar()
    assert store_area / areas["4201"] > 1.01


def test_statistics_by_village_match_sql(province, client, planner) -> None:
    """Counts per village of one county against SQL that finds the buildings by their geometry alone."""
    params = {"division": "420201000000", "group_by": "village"}
    answer = client.get("/api/v1/statistics/divisions", params=params, headers=planner)
    assert answer.status_code == 200, answer.text
    with province["engine"].connect() as conn:
        expected = dict(
            conn.execute(
                text(
                    """SELECT v.code, count(b.code) FROM division v
                  JOIN building b ON ST_Contains(v.geom, ST_PointOnSurface(b.footprint))
                 WHERE v.level = 5 AND v.code LIKE '420201%' GROUP BY v.code HAVING count(b.code) > 0"""
                )
            ).all()
        )
    assert expected and {g["code"]: g["buildings"] for g in answer.json()["groups"] if g["buildings"]} == expected
    assert all(g["level"] == 5 for g in answer.json()["groups"])


@pytest.mark.parametrize(
    ("params", "status"),
    [({"division": "4"}, 400), ({"division": "42x"}, 400), ({"group_by": "street"}, 400), ({"division": "43"}, 404)],
)
def test_statistics_bad_input(province, client, planner, params, status) -> None:
    answer = client.get("/api/v1/statistics/divisions", params=params, headers=planner)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/statistics/divisions").status_code == 401


def test_search_and_export_by_division(province) -> None:
    from exports.sources import resolve
    from search.query import Query, run

    with province["engine"].connect() as conn:
        hits, _ = run(conn, Query("路", ("building", "project"), limit=100, division="4202"), id_lookup=False)
        assert hits and all(h["id"].startswith("4202-") for h in hits)
        everywhere, _ = run(conn, Query("路", ("building", "project"), limit=100), id_lookup=False)
        assert {h["id"][:4] for h in everywhere} - {"4202"}
        statement = resolve(conn, {"source": "collection", "collection": "buildings", "division": "4203"}, False, None)
        exported = conn.execute(text(statement.sql), statement.params).all()
        expected = conn.execute(
            text(
                """SELECT count(*) FROM building b, division d WHERE d.code = '420300000000'
                    AND ST_Contains(d.geom, ST_PointOnSurface(b.footprint))"""
            )
        ).scalar_one()
        assert len(exported) == expected > 0


def test_prefix_index_serves_the_filter(province) -> None:
    with province["engine"].connect() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.execute(text("EXPLAIN SELECT count(*) FROM building WHERE division_code LIKE '4201%'")).scalars()
        )
    # the prefix index (on a city-partitioned table, each partition's copy of ix_building_division_code)
    assert re.search(r"Index Scan on (ix_building_division_code|building_\w*division_code_idx)", plan), plan


def test_assigned_on_insert_and_by_the_command(province) -> None:
    with province["engine"].begin() as conn:
        village, point = conn.execute(
            text("SELECT code, ST_AsText(ST_PointOnSurface(geom)) FROM division WHERE level = 5 ORDER BY code LIMIT 1")
        ).one()
        inserted = conn.execute(
            text(
                "INSERT INTO emergency_event (type, params, location)"
                f" VALUES ('fire', '{{}}', ST_GeomFromText(:p, {store_srid()})) RETURNING division_code"
            ),
            {"p": point},
        ).scalar_one()
        assert inserted == village
        before = dict(conn.execute(text("SELECT code, division_code FROM building WHERE code LIKE '4203%'")).all())
        conn.execute(text("UPDATE building SET division_code = NULL WHERE code LIKE '4203%'"))
    env = os.environ | {"DATABASE_URL": province["url"]}
    done = subprocess.run(
        [sys.executable, "-m", "spatial_api.cli", "divisions", "assign", "--table", "building", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f'"building": {len(before)}' in done.stdout.splitlines()[-1]
    with province["engine"].connect() as conn:
        after = dict(conn.execute(text("SELECT code, division_code FROM building WHERE code LIKE '4203%'")).all())
    assert after == before


def test_district_is_a_county_division(province) -> None:
    from core import districts

    with province["engine"].begin() as conn:
        boundary = shapely.box(114.0, 30.0, 114.1, 30.1)
        districts.save(conn, "420111", "洪山区", boundary)
        row = conn.execute(text("SELECT level, parent_code, name FROM division WHERE code = '420111000000'")).one()
        assert tuple(row) == (3, "420100000000", "洪山区")
        conn.execute(text("DELETE FROM district WHERE code = '420111'"))
        assert conn.execute(text("SELECT count(*) FROM division WHERE code = '420111000000'")).scalar_one() == 0


def test_readings_in_a_time_window_are_pruned(province) -> None:
    """sensor_reading is partitioned by month (migration 0007): a time window scans only its months."""
    with province["engine"].begin() as conn:
        for month in ("2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15"):
            conn.execute(text("SELECT sensor_reading_partition(CAST(:m AS timestamptz))"), {"m": month})
        total = conn.execute(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'sensor_reading'::regclass")
        ).scalar_one()
        plan = conn.execute(
            text(
                "EXPLAIN (FORMAT JSON) SELECT avg(value) FROM sensor_reading WHERE sensor_id = 'S1'"
                " AND time >= '2026-02-03T00:00:00Z' AND time < '2026-02-20T00:00:00Z'"
            )
        ).scalar_one()
    scanned = set()

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            scanned.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    assert total >= 5 and scanned == {"sensor_reading_202602"}

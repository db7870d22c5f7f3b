"""The credit map: alerts filtered by district with the enterprise named, an alert's evidence as map
features, the regional risk map by district (GeoJSON and MVT) and the district boundary loader."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import date

import mapbox_vector_tile
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from core.db import session_scope
from core.users import upsert_user
from tests.fixtures_credit import add_enterprise, new_uscc

API = "/api/v1/credit"
RISK = {"A": 0, "B": 1, "C": 2, "D": 3}
# Two test districts side by side (EPSG:4549 metres), far from the sample city and the other tests.
X0, Y0, SIDE = 560_000, 3_560_000, 2_000


@pytest.fixture(scope="module")
def reader(client, credit_active) -> dict[str, str]:
    with session_scope() as session:
        upsert_user(session, "mapreader", "mapreader-pw", "planner")
    token = client.post("/api/v1/auth/token", data={"username": "mapreader", "password": "mapreader-pw"})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture(scope="module")
def districts(database: Engine) -> dict:
    """Two districts loaded from GeoJSON through the CLI (in EPSG:4549) with graded enterprises in them."""
    names = {"320499000001": "测试东区", "320499000002": "测试西区"}
    features = []
    for n, (code, name) in enumerate(names.items()):
        x = X0 + n * SIDE
        ring = [[x, Y0], [x + SIDE, Y0], [x + SIDE, Y0 + SIDE], [x, Y0 + SIDE], [x, Y0]]
        geometry = {"type": "Polygon", "coordinates": [ring]}
        features.append({"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry})
    grades = {"测试东区": "AABD", "测试西区": "CCB"}
    enterprises = defaultdict(list)
    with database.begin() as conn:
        for n, (name, letters) in enumerate(grades.items()):
            for k, grade in enumerate(letters):
                uscc = new_uscc()
                add_enterprise(conn, uscc, grade=grade, x=X0 + n * SIDE + 100 + 50 * k, y=Y0 + 100)
                conn.execute(text("UPDATE enterprise SET district = :d WHERE uscc = :u"), {"d": name, "u": uscc})
                enterprises[name].append((uscc, grade))
    return {"names": names, "features": features, "enterprises": enterprises}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, districts) -> dict:
    """The two districts' boundaries loaded twice through `cim credit districts` (EPSG:4549)."""
    from credit.cli import app

    path = tmp_path_factory.mktemp("districts") / "districts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": districts["features"]}), encoding="utf-8")
    runner = CliRunner()
    return {n: runner.invoke(app, ["districts", str(path), "--srid", "4549", "--json"]) for n in ("first", "again")}


def test_district_boundaries_load_through_the_cli(tmp_path, database: Engine, districts, loaded) -> None:
    from credit.cli import app

    for done in loaded.values():  # loaded again: replaced, not doubled
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout) == {"districts": 2}
    with database.connect() as conn:
        rows = conn.execute(text("SELECT code, name, ST_Area(geom) FROM district WHERE code LIKE '3204990%'")).all()
    assert {(c, n) for c, n, _ in rows} == set(districts["names"].items())
    assert all(area == pytest.approx(SIDE * SIDE) for *_, area in rows)
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]}))
    refused = CliRunner().invoke(app, ["districts", str(bad)])
    assert refused.exit_code != 0 and "needs properties code and name" in str(refused.exception)
    bowtie = {"type": "Polygon", "coordinates": [[[X0, Y0], [X0 + 9, Y0 + 9], [X0 + 9, Y0], [X0, Y0 + 9], [X0, Y0]]]}
    crossed = {"type": "Feature", "properties": {"code": "320499000003", "name": "自交区"}, "geometry": bowtie}
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [crossed]}))
    refused = CliRunner().invoke(app, ["districts", str(bad), "--srid", "4549"])
    assert refused.exit_code != 0 and "district feature 1: geometry must be a valid" in str(refused.exception)
    with database.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM district WHERE code = '320499000003'")).scalar() == 0


def _expected_risk(database: Engine) -> dict[str, tuple[int, float, int]]:
    """(enterprises, mean risk, at C/D) per district, in plain Python over every graded enterprise."""
    with database.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT district, credit_grade FROM enterprise WHERE district IS NOT NULL AND credit_grade IS NOT NULL"
            )
        ).all()
    by = defaultdict(list)
    for district, grade in rows:
        by[district].append(RISK[grade])
    return {d: (len(r), round(sum(r) / len(r), 3), sum(1 for v in r if v >= 2)) for d, r in by.items()}


def test_district_risk_list_and_map(client, database: Engine, reader, districts, loaded) -> None:
    expected = _expected_risk(database)
    listed = client.get(f"{API}/stats/districts", headers=reader).json()
    assert {d["district"]: (d["enterprises"], d["mean_risk"], d["high_risk"]) for d in listed} == expected
    risks = [d["mean_risk"] for d in listed]
    assert risks == sorted(risks, reverse=True)
    east, west = districts["names"].values()
    assert expected[east] == (4, round((0 + 0 + 1 + 3) / 4, 3), 1) and expected[west] == (3, round(5 / 3, 3), 2)

    mapped = client.get(f"{API}/stats/districts/map", headers=reader).json()
    with database.connect() as conn:
        loaded = dict(conn.execute(text("SELECT name, code FROM district")).all())
    ours = {f["properties"]["district"]: f for f in mapped["features"]}
    assert set(ours) == {n for n in loaded if n in expected}
    for name, feature in ours.items():
        assert feature["id"] == loaded[name]
        p = feature["properties"]
        assert (p["enterprises"], p["mean_risk"], p["high_risk"]) == expected[name]
    with database.connect() as conn:
        corner = conn.execute(
            text("SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4549), 4326) g"),
            {"x": X0, "y": Y0},
        ).one()
    ring = ours[east]["geometry"]["coordinates"][0][0]  # a MultiPolygon in CRS84
    assert any(c == pytest.approx(tuple(corner), abs=1e-6) for c in ring)


def test_district_risk_vector_tile(client, database: Engine, reader, districts, loaded) -> None:
    with database.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(g), ST_Y(g) FROM ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4549), 4326) g"),
            {"x": X0 + SIDE, "y": Y0 + SIDE / 2},
        ).one()
    z = 12
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    tile = client.get(f"{API}/stats/districts/{z}/{x}/{y}.pbf", headers=reader)
    assert tile.status_code == 200 and tile.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layer = mapbox_vector_tile.decode(tile.content)["credit_district_risk"]
    expected = _expected_risk(database)
    got = {f["properties"]["district"]: f["properties"] for f in layer["features"]}
    assert set(districts["names"].values()) <= set(got)  # both touch the shared edge this tile holds
    for name in districts["names"].values():
        p = got[name]
        assert (p["enterprises"], p["mean_risk"], p["high_risk"]) == expected[name]
    empty = client.get(f"{API}/stats/districts/{z}/0/0.pbf", headers=reader)
    assert empty.status_code == 200 and empty.content == b""


def test_alerts_filter_by_district_and_name_the_enterprise(client, database: Engine, reader, districts) -> None:
    east, west = districts["names"].values()
    with database.begin() as conn:
        for name in (east, west):
            uscc = districts["enterprises"][name][0][0]
            conn.execute(
                text(
                    "INSERT INTO credit_alert (kind, level, cause_key, enterprise_uscc, message, evidence, count,"
                    " status, reminders, history) VALUES ('new_penalty', 'orange', :k, :u, '新增行政处罚', '{}', 1,"
                    " 'generated', 0, '[]')"
                ),
                {"k": f"new_penalty:map:{uscc}", "u": uscc},
            )
        expected = {
            r[0]: r[1]
            for r in conn.execute(
                text(
                    "SELECT a.id, e.name FROM credit_alert a JOIN enterprise e ON e.uscc = a.enterprise_uscc"
                    " WHERE e.district = :d"
                ),
                {"d": west},
            )
        }
    got = client.get(f"{API}/alerts", params={"district": west}, headers=reader).json()
    assert {a["id"]: a["enterprise_name"] for a in got} == expected
    assert {a["district"] for a in got} == {west}
    both = client.get(f"{API}/alerts", params={"district": west, "level": "red"}, headers=reader).json()
    assert both == []


def test_alert_evidence_as_map_features(client, database: Engine, reader, credit_active) -> None:
    """A C/D contractor's site near a gas main: the alert's features are the enterprise, the site and
    the main, at the places PostGIS gives for them."""
    from credit import alerts, service

    uscc = new_uscc()
    x, y = X0 + 10_000, Y0
    pipe, site = f"map-gas-{uscc[-6:]}", f"MAP-{uscc[-8:]}"
    with database.begin() as conn:
        add_enterprise(conn, uscc, grade="D", x=x, y=y)
        conn.execute(
            text(
                "INSERT INTO pipeline (id, utility, depth_ref, status, geom) VALUES (:p, 'gas', 'top', 'in_service',"
                " ST_SetSRID(ST_MakeLine(ST_MakePoint(:x, :y, 0), ST_MakePoint(:x + 200, :y, 0)), 4549))"
            ),
            {"p": pipe, "x": x, "y": y},
        )
        conn.execute(
            text(
                "INSERT INTO project (code, name, type, stage, contractor_uscc, hazardous_works, progress_pct,"
                " footprint) VALUES (:c, '地图测试工地', 'building', 'construction', :u, false, 30,"
                " ST_MakeEnvelope(:x, :y, :x + 40, :y + 40, 4549))"
            ),
            {"c": site, "u": uscc, "x": x + 50, "y": y + 15},
        )
    try:
        with session_scope() as session:
            alerts.scan(session, service.settings_in_force(session), date.today())
        [alert] = client.get(f"{API}/alerts", params={"enterprise": uscc, "kind": "site_risk"}, headers=reader).json()
        answer = client.get(f"{API}/alerts/{alert['id']}/features", headers=reader).json()
        by_ref = {f["properties"]["ref"]: f for f in answer["features"]}
        assert set(by_ref) == {f"enterprise:{uscc}", f"project:{site}", f"pipeline:{pipe}"}
        roles = {ref: (f["properties"]["role"], f["properties"]["layer"]) for ref, f in by_ref.items()}
        assert roles == {
            f"enterprise:{uscc}": ("enterprise", "enterprises"),
            f"project:{site}": ("site", "projects"),
            f"pipeline:{pipe}": ("feature", "pipelines"),
        }
        with database.connect() as conn:
            corners = conn.execute(
                text(
                    "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (SELECT ST_Transform(footprint, 4326) g"
                    " FROM project WHERE code = :c) s"
                ),
                {"c": site},
            ).one()
        ring = by_ref[f"project:{site}"]["geometry"]["coordinates"][0]
        got = (min(p[0] for p in ring), min(p[1] for p in ring), max(p[0] for p in ring), max(p[1] for p in ring))
        assert got == pytest.approx(tuple(corners), abs=1e-6)
        assert by_ref[f"pipeline:{pipe}"]["geometry"]["type"] == "LineString"
        missing = client.get(f"{API}/alerts/999999999/features", headers=reader)
        assert missing.status_code == 404
    finally:
        with database.begin() as conn:  # the tile tests count every pipe in the shared session database
            conn.execute(text("DELETE FROM pipeline WHERE id = :p"), {"p": pipe})

"""District data scopes: an admin adds districts and assigns them to a user; that user then sees only
the features and records inside them in items, identify, within, search, profiles and exports (the
scope goes with the export job). The expected sets are computed here with shapely from the buildings'
footprints and addresses. Boundaries are saved through one validated upsert (core.districts.save)."""

from __future__ import annotations

import csv
import io
import re
import unicodedata

import numpy as np
import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import text

from core import districts
from core.errors import UserError
from tests.fixtures_security import API, bearer, login
from tests.test_exports import run_export

WEST, EAST = "320404", "320402"


def _split_longitude(extents: list[tuple[float, float]]) -> float:
    """A longitude near the median crossed by no building (1 m clear), so both sides are unambiguous."""
    middles = sorted((a + b) / 2 for a, b in extents)
    median = middles[len(middles) // 2]
    candidates = sorted({a - 2e-5 for a, _ in extents} | {b + 2e-5 for _, b in extents}, key=lambda x: abs(x - median))
    for x in candidates:
        if not any(a - 1e-5 <= x <= b + 1e-5 for a, b in extents):
            return x
    raise AssertionError("no clear line between the buildings")


@pytest.fixture(scope="module")
def scoped(client, admin_headers, new_user, rows, to_lonlat, sample_city) -> dict:
    """Two districts split west/east between the buildings; a planner limited to the west one."""
    buildings = {
        r["code"]: to_lonlat(r["wkb_g"]) for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")
    }
    extents = [(g.bounds[0], g.bounds[2]) for g in buildings.values()]
    split = _split_longitude(extents)
    x0, y0, x1, y1 = shapely.union_all(list(buildings.values())).bounds
    halves = {WEST: box(x0 - 0.01, y0 - 0.01, split, y1 + 0.01), EAST: box(split, y0 - 0.01, x1 + 0.01, y1 + 0.01)}
    for code, name in ((WEST, "钟楼区"), (EAST, "天宁区")):
        body = {"name": name, "geometry": mapping(halves[code])}
        answer = client.put(f"{API}/admin/districts/{code}", json=body, headers=admin_headers)
        assert answer.status_code == 200, answer.text
    username, password = new_user("planner")
    change = client.patch(f"{API}/admin/users/{username}", json={"districts": [WEST]}, headers=admin_headers)
    assert change.status_code == 200 and change.json()["districts"] == [WEST]
    west = {code for code, g in buildings.items() if g.intersects(halves[WEST])}
    east = set(buildings) - west
    assert west and east
    return {
        "headers": bearer(login(client, username, password)["access_token"]),
        "west": west,
        "east": east,
        "buildings": buildings,
        "city": box(x0 - 0.001, y0 - 0.001, x1 + 0.001, y1 + 0.001),
        "halves": halves,
    }


def test_items_are_those_of_the_districts(client, scoped):
    answer = client.get(f"{API}/collections/buildings/items", params={"limit": 10000}, headers=scoped["headers"])
    assert answer.status_code == 200
    assert {f["id"] for f in answer.json()["features"]} == scoped["west"]
    inside, outside = min(scoped["west"]), min(scoped["east"])
    assert client.get(f"{API}/collections/buildings/items/{inside}", headers=scoped["headers"]).status_code == 200
    assert client.get(f"{API}/collections/buildings/items/{outside}", headers=scoped["headers"]).status_code == 404


def test_identify_by_id_and_by_click(client, scoped, admin_headers):
    inside, outside = min(scoped["west"]), min(scoped["east"])
    by_id = f"{API}/query/identify"
    assert client.get(by_id, params={"layer": "buildings", "id": inside}, headers=scoped["headers"]).status_code == 200
    refused = client.get(by_id, params={"layer": "buildings", "id": outside}, headers=scoped["headers"])
    assert refused.status_code == 404 and WEST in refused.json()["detail"]
    point = scoped["buildings"][outside].representative_point()
    click = {"lon": point.x, "lat": point.y}
    assert client.get(by_id, params=click, headers=admin_headers).status_code == 200  # something is there
    assert client.get(by_id, params=click, headers=scoped["headers"]).status_code == 404


def test_within_counts_only_the_districts(client, scoped, admin_headers):
    city = mapping(scoped["city"])
    everything = client.post(f"{API}/query/within", json=city, headers=admin_headers).json()
    mine = client.post(f"{API}/query/within", json=city, headers=scoped["headers"]).json()
    assert everything["buildings"]["count"] == len(scoped["buildings"])
    assert mine["buildings"]["count"] == len(scoped["west"])
    assert mine["area_m2"] < everything["area_m2"]


def test_search_finds_only_the_districts(client, scoped, admin_headers):
    params = {"q": "路", "kind": "building", "limit": 100}
    everyone = {h["id"] for h in client.get(f"{API}/search", params=params, headers=admin_headers).json()["hits"]}
    mine = {h["id"] for h in client.get(f"{API}/search", params=params, headers=scoped["headers"]).json()["hits"]}
    assert everyone & scoped["east"], "the query finds eastern buildings for an unlimited user"
    assert mine and mine <= scoped["west"]
    assert mine == everyone & scoped["west"] or len(mine) == 100


def test_profiles_only_inside(client, scoped):
    inside, outside = min(scoped["west"]), min(scoped["east"])
    assert client.get(f"{API}/profiles/building/{inside}", headers=scoped["headers"]).status_code == 200
    assert client.get(f"{API}/profiles/building/{outside}", headers=scoped["headers"]).status_code == 404


def test_unknown_districts_and_bad_boundaries_are_refused(client, admin_headers, new_user, scoped):
    username, _ = new_user("planner")
    answer = client.patch(f"{API}/admin/users/{username}", json={"districts": ["999999"]}, headers=admin_headers)
    assert answer.status_code == 422 and "999999" in answer.json()["detail"]
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    bad = client.put(f"{API}/admin/districts/320499", json={"name": "x", "geometry": bowtie}, headers=admin_headers)
    assert bad.status_code == 422
    listed = client.get(f"{API}/admin/districts", headers=admin_headers).json()
    assert {WEST, EAST} <= {d["code"] for d in listed} and "320499" not in {d["code"] for d in listed}
    assert client.get(f"{API}/admin/districts", headers=scoped["headers"]).status_code == 403


def _exported_ids(client, headers: dict[str, str], query: dict) -> tuple[list[str], int]:
    """The ids of an export to CSV (field names as headers) and the rows the job reports."""
    job, _, content = run_export(client, headers, query, "csv", heading="field")
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    return [r["id"] for r in table], job["rows"]


def test_layer_export_keeps_to_the_districts(client, scoped, admin_headers, rows):
    query = {"source": "collection", "collection": "buildings", "properties": ["address"]}
    everything = {r["code"] for r in rows("SELECT code FROM building")}
    mine, count = _exported_ids(client, scoped["headers"], query)
    assert sorted(mine) == sorted(scoped["west"]) and count == len(scoped["west"])
    theirs, count = _exported_ids(client, admin_headers, query)
    assert set(theirs) == everything and len(theirs) == count == len(everything)


def _norm(value: str) -> str:
    return re.sub(r"[\s\W_]", "", unicodedata.normalize("NFKC", value).lower())


def test_search_export_keeps_to_the_districts(client, scoped, admin_headers, rows):
    q = "路"
    query = {"source": "search", "q": q, "kind": ["building"]}
    matching = {r["code"] for r in rows("SELECT code, address FROM building") if _norm(q) in _norm(r["address"] or "")}
    assert matching & scoped["east"] and matching & scoped["west"], "the query finds buildings on both sides"
    mine, count = _exported_ids(client, scoped["headers"], query)
    assert set(mine) == matching & scoped["west"] and len(mine) == count
    theirs, _ = _exported_ids(client, admin_headers, query)
    assert set(theirs) == matching


def test_within_export_keeps_to_the_districts(client, scoped, admin_headers, rows, to_lonlat, to_store):
    """A drawn area across both districts (the middle of the city): the limited user gets what is both in
    the area and in their district, computed with shapely (area in the store CRS, districts in CRS84)."""
    x0, y0, x1, y1 = scoped["city"].bounds
    area = box(x0 + (x1 - x0) * 0.2, y0 + (y1 - y0) * 0.2, x0 + (x1 - x0) * 0.8, y0 + (y1 - y0) * 0.8)
    query = {"source": "within", "collection": "buildings", "geometry": mapping(area)}
    footprints = {r["code"]: r["wkb_f"] for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_f FROM building")}
    stored_area = to_store(area)
    in_area = {code for code, f in footprints.items() if f.intersects(stored_area)}
    west = {code for code in in_area if to_lonlat(footprints[code]).intersects(scoped["halves"][WEST])}
    assert west and in_area - west and west < scoped["west"], "the area holds both sides and not all the west"
    mine, count = _exported_ids(client, scoped["headers"], query)
    assert sorted(mine) == sorted(west) and count == len(west)
    theirs, _ = _exported_ids(client, admin_headers, query)
    assert sorted(theirs) == sorted(in_area)


def test_profile_export_outside_the_districts_is_refused(client, scoped):
    outside = {"source": "profile", "kind": "building", "id": min(scoped["east"])}
    refused = client.post("/api/v1/exports", json={"query": outside, "format": "xlsx"}, headers=scoped["headers"])
    assert refused.status_code == 404 and WEST in refused.json()["detail"]
    inside = {"source": "profile", "kind": "building", "id": min(scoped["west"])}
    accepted = client.post("/api/v1/exports", json={"query": inside, "format": "xlsx"}, headers=scoped["headers"])
    assert accepted.status_code == 202, accepted.text


def test_export_job_without_its_scope_is_not_run_unscoped(database, sample_city):
    """A job whose params lack the requester's districts (queued before they were stored) fails rather
    than export beyond them."""
    from exports.run import export

    params = {"query": {"source": "collection", "collection": "buildings"}, "format": "csv", "personal": False}
    with pytest.raises(UserError, match="districts"):
        export(params, lambda stage, percent: None)


def test_save_validates_and_replaces(database, to_store):
    """One upsert for every writer of boundaries: GeoJSON or shapely, CRS84 or another srid."""
    square = box(119.90, 31.60, 119.91, 31.61)
    with database.begin() as conn:
        first = districts.save(conn, "320499000009", "测试区", mapping(square))
        again = districts.save(conn, "320499000009", "测试新区", to_store(square), srid=4549)
        stored = conn.execute(text("SELECT name, ST_Area(geom) / 1e6 FROM district WHERE code = '320499000009'")).one()
        conn.execute(text("DELETE FROM district WHERE code = '320499000009'"))
    assert first == pytest.approx(to_store(square).area / 1e6, rel=1e-3)
    assert stored == ("测试新区", pytest.approx(again, rel=1e-9)) and again == pytest.approx(first, rel=1e-3)
    turns = np.linspace(0, 2 * np.pi, districts.MAX_VERTICES + 1, endpoint=False)
    many = shapely.Polygon(np.column_stack([119.9 + 0.01 * np.cos(turns), 31.6 + 0.01 * np.sin(turns)]))
    refused = [
        ("320499", "x", {"type": "Point", "coordinates": [119.9, 31.6]}, 4326, "Polygon"),
        ("320499", "x", mapping(box(500, 31, 501, 32)), 4326, "CRS84"),
        ("320499", "x", many, 4326, "vertices"),
        ("3204", "x", mapping(square), 4326, "division code"),
        ("320499", "x", {"type": "Polygon"}, 4326, "readable"),
    ]
    with database.begin() as conn:
        for code, name, geometry, srid, message in refused:
            with pytest.raises(districts.BadBoundary, match=message):
                districts.save(conn, code, name, geometry, srid)

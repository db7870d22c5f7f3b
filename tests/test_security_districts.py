"""District data scopes: an admin adds districts and assigns them to a user; that user then sees only
the features and records inside them in items, identify, within, search and profiles. The expected
sets are computed here with shapely from the buildings' footprints."""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import box, mapping

from tests.fixtures_security import API, bearer, login

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

"""OGC API Features Part 4 on the record layers: create, replace, update and delete through the
records write path (roles, If-Match, validation, audit with before and after, linking), changes
visible at once in identify and in the collection. Expected values from SQL and pyproj."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box, mapping

from gis.importers import import_layer

API = "/api/v1"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
LON, LAT = 120.7100, 31.3600
DEG = 0.0001


def _feature(code: str, name: str, site: shapely.Polygon) -> dict:
    return {
        "type": "Feature",
        "id": code,
        "properties": {"name": name, "type": "房建", "stage": "施工"},
        "geometry": mapping(site),
    }


@pytest.fixture(scope="module")
def building(codes, tmp_path_factory) -> str:
    """A building from a file, inside the site the tests give their project."""
    code = codes.code("FW")
    feature = {"type": "Feature", "properties": {"code": code},
               "geometry": mapping(box(LON + DEG, LAT + DEG, LON + 3 * DEG, LAT + 3 * DEG))}  # fmt: skip
    path = tmp_path_factory.mktemp("ogc-write") / f"{code}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    import_layer(str(path), "buildings")
    return code


@pytest.fixture(scope="module")
def created(client, codes, token_headers, building) -> dict:
    """A project created through POST /collections/projects/items, its site given in CGCS2000
    (latitude first) with Content-Crs."""
    code = codes.code("XM")
    site = box(LON, LAT, LON + 5 * DEG, LAT + 5 * DEG)
    lat_lon = shapely.transform(site, lambda xy: xy[:, ::-1])
    response = client.post(
        f"{API}/collections/projects/items",
        json=_feature(code, "OGC 新建项目", lat_lon),
        headers=token_headers("records") | {"Content-Crs": f"<{CGCS2000}>"},
    )
    assert response.status_code == 201, response.text
    return {"code": code, "site": site, "etag": response.headers["ETag"], "location": response.headers["Location"]}


def test_a_created_feature_is_stored_exactly_and_shows_in_identify(client, created, building, sql):
    code = created["code"]
    assert created["location"].endswith(f"/collections/projects/items/{code}")
    [row] = sql("SELECT name, ST_AsBinary(footprint) AS wkb FROM project WHERE code = :c", c=code)
    forward = Transformer.from_crs("EPSG:4490", "EPSG:4549")  # lat, lon in; northing, easting out
    lat_lon = shapely.transform(created["site"], lambda xy: xy[:, ::-1])
    expected = shapely.transform(lat_lon, lambda xy: np.column_stack(forward.transform(xy[:, 0], xy[:, 1]))[:, ::-1])
    assert shapely.from_wkb(bytes(row["wkb"])).hausdorff_distance(expected) < 0.001
    identified = client.get(f"{API}/query/identify", params={"layer": "buildings", "id": building}).json()
    assert identified["project"]["code"] == code and identified["project"]["name"] == "OGC 新建项目"
    read = client.get(f"{API}/collections/projects/items/{code}")
    assert read.status_code == 200 and read.headers["ETag"] == created["etag"]
    assert read.json()["properties"]["name"] == "OGC 新建项目"
    [audit] = sql(
        "SELECT username, detail FROM audit_log WHERE action = 'records.create' AND object = :o", o=f"projects/{code}"
    )
    assert audit["username"] == "records-tester" and audit["detail"]["after"]["name"] == "OGC 新建项目"


def test_changes_need_the_current_etag(client, created, building, token_headers, sql):
    code, editor = created["code"], token_headers("records")
    url = f"{API}/collections/projects/items/{code}"
    patch = {"type": "Feature", "properties": {"name": "OGC 改名项目"}}
    assert client.patch(url, json=patch, headers=editor).status_code == 428
    etag = client.get(url).headers["ETag"]
    changed = client.patch(url, json=patch, headers=editor | {"If-Match": etag})
    assert changed.status_code == 204, changed.text
    assert changed.headers["ETag"] != etag and changed.headers["ETag"] == client.get(url).headers["ETag"]
    stale = client.put(url, json=_feature(code, "过时的写入", created["site"]), headers=editor | {"If-Match": etag})
    assert stale.status_code == 412
    assert sql("SELECT name FROM project WHERE code = :c", c=code)[0]["name"] == "OGC 改名项目"
    identified = client.get(f"{API}/query/identify", params={"layer": "buildings", "id": building}).json()
    assert identified["project"]["name"] == "OGC 改名项目"
    [audit] = sql("SELECT detail FROM audit_log WHERE action = 'records.update' AND object = :o", o=f"projects/{code}")
    assert audit["detail"]["before"]["name"] == "OGC 新建项目" and audit["detail"]["after"]["name"] == "OGC 改名项目"
    # PUT replaces the whole feature: the stage given, the fields left out emptied or defaulted
    whole = _feature(code, "OGC 改名项目", created["site"])
    whole["properties"]["stage"] = "验收"
    replaced = client.put(url, json=whole, headers=editor | {"If-Match": changed.headers["ETag"]})
    assert replaced.status_code == 204, replaced.text
    assert sql("SELECT stage FROM project WHERE code = :c", c=code)[0]["stage"] == "acceptance"


def test_roles_and_layers_that_may_not_be_written(client, codes, token_headers, sql):
    site = box(LON + 0.01, LAT, LON + 0.01 + 5 * DEG, LAT + 5 * DEG)
    code = codes.code("XM")
    url = f"{API}/collections/projects/items"
    assert client.post(url, json=_feature(code, "无权", site), headers=token_headers("planner")).status_code == 403
    assert client.post(url, json=_feature(code, "无权", site)).status_code == 401
    assert sql("SELECT count(*) AS n FROM project WHERE code = :c", c=code)[0]["n"] == 0
    enterprise = {
        "type": "Feature",
        "properties": {"uscc": codes.uscc(), "name": "x", "type": "施工总承包"},
        "geometry": None,
    }
    refused = client.post(f"{API}/collections/enterprises/items", json=enterprise, headers=token_headers("engineer"))
    assert refused.status_code == 403
    building = {"type": "Feature", "properties": {"code": "X"}, "geometry": mapping(site)}
    assert (
        client.post(f"{API}/collections/buildings/items", json=building, headers=token_headers("admin")).status_code
        == 400
    )


def test_validation_is_the_write_apis(client, codes, token_headers, sql):
    code = codes.code("XM")
    feature = _feature(code, "坏阶段", box(LON + 0.02, LAT, LON + 0.02 + 5 * DEG, LAT + 5 * DEG))
    feature["properties"]["stage"] = "半途"
    via_ogc = client.post(f"{API}/collections/projects/items", json=feature, headers=token_headers("records"))
    via_records = client.post(
        f"{API}/records/projects",
        json={"code": code, **feature["properties"], "footprint": feature["geometry"]},
        headers=token_headers("records"),
    )
    assert via_ogc.status_code == via_records.status_code == 422
    assert via_ogc.json()["errors"] == via_records.json()["errors"]
    assert sql("SELECT count(*) AS n FROM project WHERE code = :c", c=code)[0]["n"] == 0


def test_a_deleted_feature_leaves_the_collection(client, codes, token_headers, sql):
    editor, code = token_headers("records"), codes.code("XM")
    site = box(LON + 0.03, LAT, LON + 0.03 + 5 * DEG, LAT + 5 * DEG)
    made = client.post(f"{API}/collections/projects/items", json=_feature(code, "待删除", site), headers=editor)
    url = f"{API}/collections/projects/items/{code}"
    assert client.delete(url, headers=editor).status_code == 428
    assert client.delete(url, headers=editor | {"If-Match": made.headers["ETag"]}).status_code == 204
    assert client.get(url).status_code == 404
    listed = client.get(f"{API}/collections/projects/items", params={"filter": f"code = '{code}'"}).json()
    assert listed["numberMatched"] == 0
    [row] = sql("SELECT deleted_at, deleted_reason FROM project WHERE code = :c", c=code)
    assert row["deleted_at"] is not None and "OGC API Features" in row["deleted_reason"]

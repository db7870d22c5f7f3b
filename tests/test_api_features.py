"""OGC API Features on the sample city: expected answers from raw SQL, shapely and pyproj."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import shapely
from shapely.geometry import box, shape

API = "/api/v1"


def test_landing_conformance_and_collections(client, sample_city):
    landing = client.get(f"{API}/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    assert (
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
        in client.get(f"{API}/conformance").json()["conformsTo"]
    )
    ids = {c["id"] for c in client.get(f"{API}/collections").json()["collections"]}
    assert {"buildings", "parcels", "roads", "pipelines", "pipe_nodes", "tunnels", "projects", "enterprises"} <= ids


def test_collection_extent_covers_every_building(client, sample_city, rows, to_lonlat):
    extent = client.get(f"{API}/collections/buildings").json()["extent"]["spatial"]["bbox"][0]
    footprints = shapely.union_all(
        [to_lonlat(r["wkb_g"]) for r in rows("SELECT ST_AsBinary(footprint) AS wkb_g FROM building")]
    )
    lon0, lat0, lon1, lat1 = footprints.bounds
    assert extent[0] <= lon0 and extent[1] <= lat0 and extent[2] >= lon1 and extent[3] >= lat1
    assert extent[2] - extent[0] < (lon1 - lon0) * 1.01 + 1e-6


def _page_all(client, url: str, params: dict) -> list[dict]:
    features, next_url = [], url
    query = params
    while next_url:
        response = client.get(next_url, params=query)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/geo+json")
        body = response.json()
        features += body["features"]
        assert body["numberReturned"] == len(body["features"])
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        next_url, query = (nxt[0], None) if nxt else (None, None)
    return features


def test_items_bbox_with_paging_matches_shapely(client, sample_city, rows, to_lonlat):
    buildings = {
        r["code"]: to_lonlat(r["wkb_g"]) for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")
    }
    union = shapely.union_all(list(buildings.values()))
    lon0, lat0, lon1, lat1 = union.bounds
    bbox = (lon0, lat0, lon0 + (lon1 - lon0) * 0.4, lat0 + (lat1 - lat0) * 0.5)
    expected = {code for code, g in buildings.items() if g.intersects(box(*bbox))}
    assert 5 < len(expected) < len(buildings)
    got = _page_all(client, f"{API}/collections/buildings/items", {"bbox": ",".join(map(str, bbox)), "limit": 7})
    ids = [f["id"] for f in got]
    assert len(ids) == len(set(ids))
    # Geometry is exact to 1e-7 degrees, so only features touching the box edge within that may differ.
    near_edge = {c for c, g in buildings.items() if g.distance(box(*bbox).exterior) < 1e-6}
    assert set(ids) ^ expected <= near_edge
    one = next(f for f in got if f["id"] in expected - near_edge)
    assert shape(one["geometry"]).hausdorff_distance(buildings[one["id"]]) < 1e-7  # 7 decimals, ~1 cm


def test_property_filter_and_single_item(client, sample_city, rows):
    gas = {r["id"] for r in rows("SELECT id FROM pipeline WHERE utility = 'gas'")}
    assert gas
    got = _page_all(client, f"{API}/collections/pipelines/items", {"utility": "gas", "limit": 1000})
    assert {f["id"] for f in got} == gas
    assert all(f["properties"]["utility"] == "gas" for f in got)
    pid = sorted(gas)[0]
    feature = client.get(f"{API}/collections/pipelines/items/{pid}").json()
    assert feature["id"] == pid and feature["geometry"]["type"] == "LineString"
    assert client.get(f"{API}/collections/pipelines/items/no-such-pipe").status_code == 404


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/collections/nowhere/items", 404),
        ("/collections/buildings/items?bbox=120,32,119,31", 400),
        ("/collections/buildings/items?bbox=1,2,3", 400),
        ("/collections/buildings/items?bbox=a,b,c,d", 400),
        ("/collections/buildings/items?limit=0", 400),
        ("/collections/buildings/items?limit=100000", 400),
        ("/collections/buildings/items?colour=red", 400),
        ("/collections/buildings/items?floors_above=many", 400),
    ],
)
def test_bad_item_requests_are_problems(client, sample_city, url, status):
    response = client.get(API + url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


def test_sql_in_a_filter_value_is_only_a_value(client, sample_city, rows):
    before = rows("SELECT count(*) AS n FROM building")[0]["n"]
    response = client.get(f"{API}/collections/buildings/items", params={"use": "x'; DROP TABLE building; --"})
    assert response.status_code == 200 and response.json()["features"] == []
    assert rows("SELECT count(*) AS n FROM building")[0]["n"] == before
    assert client.get(f"{API}/collections/buildings/items?limit=1").status_code == 200


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo (Debian gdal-bin) is not installed")
def test_gdal_ogcapi_driver_reads_the_service(live_server, rows):
    url = f"OGCAPI:{live_server}/api/v1"
    listing = subprocess.run(["ogrinfo", "-ro", "-q", url], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    pipelines = f"OGCAPI:{live_server}/api/v1/collections/pipelines"
    assert f"{url}/collections/buildings" in listing.stdout and pipelines in listing.stdout, listing.stdout
    summary = subprocess.run(["ogrinfo", "-ro", "-so", "-al", pipelines], capture_output=True, text=True, timeout=180)
    assert summary.returncode == 0, summary.stderr
    expected = rows("SELECT count(*) AS n FROM pipeline")[0]["n"]
    assert f"Feature Count: {expected}" in summary.stdout, summary.stdout
    assert "utility: String" in summary.stdout and "diameter_mm: " in summary.stdout

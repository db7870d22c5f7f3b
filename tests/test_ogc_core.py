"""OGC API Features Parts 1 and 2 on the sample city: numberMatched, 400 on bad parameters, HEAD,
crs / bbox-crs / datetime, extents. Expected answers from raw SQL, shapely and pyproj."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import box, shape
from sqlalchemy import text

API = "/api/v1"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
STORE = "http://www.opengis.net/def/crs/EPSG/0/4549"


def test_number_matched_is_the_sql_count(client, sample_city, rows):
    gas = rows("SELECT count(*) AS n FROM pipeline WHERE utility = 'gas'")[0]["n"]
    total = rows("SELECT count(*) AS n FROM pipeline")[0]["n"]
    assert 10 < gas < total
    body = client.get(f"{API}/collections/pipelines/items", params={"utility": "gas", "limit": 10}).json()
    assert body["numberMatched"] == gas and body["numberReturned"] == 10 == len(body["features"])
    body = client.get(f"{API}/collections/pipelines/items", params={"limit": 5, "offset": total - 2}).json()
    assert body["numberMatched"] == total and body["numberReturned"] == 2
    assert not [link for link in body["links"] if link["rel"] == "next"]
    hits = client.get(f"{API}/collections/pipelines/items", params={"resultType": "hits", "utility": "gas"}).json()
    assert hits["numberMatched"] == gas and hits["features"] == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=-3",
        "limit=ten",
        "limit=100000",
        "offset=-1",
        "offset=x",
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "bbox=121,32,120,31",
        "crs=EPSG:3857",
        "bbox-crs=urn:nowhere&bbox=1,2,3,4",
        "datetime=yesterday",
        "sortby=colour",
        "filter-lang=sql&filter=code='x'",
    ],
)
def test_bad_parameters_are_400_problems(client, sample_city, query):
    response = client.get(f"{API}/collections/buildings/items?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conformance",
        "/collections",
        "/collections/buildings",
        "/collections/buildings/queryables",
        "/collections/buildings/items?limit=3",
        "/collections/pipelines/items/{pipe}",
    ],
)
def test_head_answers_every_get_route(client, sample_city, rows, path):
    url = API + path.format(pipe=rows("SELECT min(id) AS id FROM pipeline")[0]["id"])
    got, head = client.get(url), client.head(url)
    assert got.status_code == 200 and head.status_code == 200, head.text
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


def test_collections_advertise_crs_and_storage_crs(client, sample_city):
    for doc in client.get(f"{API}/collections").json()["collections"]:
        assert doc["crs"][0] == CRS84 and {CGCS2000, STORE} <= set(doc["crs"])
        assert doc["storageCrs"] == STORE
        assert len(doc["extent"]["spatial"]["bbox"][0]) == 4


def test_coordinates_in_cgcs2000_and_the_store_crs(client, sample_city, rows, store_to):
    code = rows("SELECT min(code) AS code FROM building")[0]["code"]
    [row] = rows("SELECT ST_AsBinary(footprint) AS wkb_g FROM building WHERE code = :c", c=code)
    stored = row["wkb_g"]
    for uri, decimals_error in ((CGCS2000, 1e-7), (STORE, 1e-3)):
        response = client.get(f"{API}/collections/buildings/items/{code}", params={"crs": uri})
        assert response.status_code == 200 and response.headers["content-crs"] == f"<{uri}>"
        got = shape(response.json()["geometry"])
        expected = store_to(f"EPSG:{uri.rsplit('/', 1)[1]}")(stored)
        assert got.hausdorff_distance(expected) < decimals_error  # axis order of the CRS: lat, lon / N, E
    plain = client.get(f"{API}/collections/buildings/items/{code}")
    assert plain.headers["content-crs"] == f"<{CRS84}>"
    lonlat = shape(plain.json()["geometry"])
    assert 100 < lonlat.centroid.x < 135 and 15 < lonlat.centroid.y < 55  # CRS84 stays lon, lat


def test_bbox_in_cgcs2000_lat_lon_order(client, sample_city, rows, store_to):
    to_latlon = store_to("EPSG:4490")
    buildings = {
        r["code"]: to_latlon(r["wkb_g"]) for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")
    }
    lat0, lon0, lat1, lon1 = shapely.union_all(list(buildings.values())).bounds
    query = (lat0, lon0, lat0 + (lat1 - lat0) * 0.5, lon0 + (lon1 - lon0) * 0.3)
    expected = {c for c, g in buildings.items() if g.intersects(box(*query))}
    near_edge = {c for c, g in buildings.items() if g.distance(box(*query).exterior) < 1e-6}
    assert 3 < len(expected) < len(buildings)
    body = client.get(
        f"{API}/collections/buildings/items",
        params={"bbox": ",".join(map(str, query)), "bbox-crs": CGCS2000, "limit": 1000},
    ).json()
    got = {f["id"] for f in body["features"]}
    assert got ^ expected <= near_edge and body["numberMatched"] == len(got)


def test_datetime_filters_projects_by_their_planned_span(client, sample_city, rows):
    spans = rows("SELECT code, planned_start, planned_end FROM project WHERE deleted_at IS NULL")
    starts = sorted(r["planned_start"] for r in spans if r["planned_start"])
    assert len(starts) > 4
    pivot = starts[len(starts) // 2]
    after = date(pivot.year + 1, 1, 1)

    def covers(r, lo, hi):
        start, end = r["planned_start"], r["planned_end"] or r["planned_start"]
        return start is not None and (hi is None or start <= hi) and (lo is None or end >= lo)

    cases = {
        pivot.isoformat(): (pivot, pivot),
        f"{pivot.isoformat()}/{after.isoformat()}": (pivot, after),
        f"../{pivot.isoformat()}": (None, pivot),
        f"{after.isoformat()}T00:00:00Z/..": (after, None),
    }
    for value, (lo, hi) in cases.items():
        expected = {r["code"] for r in spans if covers(r, lo, hi)}
        body = client.get(f"{API}/collections/projects/items", params={"datetime": value, "limit": 1000}).json()
        assert {f["id"] for f in body["features"]} == expected, value
    assert client.get(f"{API}/collections/buildings/items", params={"datetime": "2024-01-01"}).status_code == 400


def test_an_empty_collection_has_the_zone_as_extent(empty_collection_server, rows):
    server = empty_collection_server
    assert rows(f"SELECT count(*) AS n FROM {server.registry.layer(server.empty).from_clause}")[0]["n"] == 0
    area = CRS.from_epsg(4549).area_of_use
    collection = httpx.get(f"{server.base}{API}/collections/{server.empty}", timeout=30)
    assert collection.status_code == 200, collection.text
    extent = collection.json()["extent"]["spatial"]["bbox"][0]
    assert extent == pytest.approx([area.west, area.south, area.east, area.north])
    items = httpx.get(f"{server.base}{API}/collections/{server.empty}/items", timeout=30).json()
    assert items["numberMatched"] == 0 and items["features"] == []


def test_extent_stays_right_when_a_feature_lies_outside_the_zone(client, sample_city, database, rows):
    """A feature stored far outside the store's zone (an event in Urumqi, 87.6°E, stored in the 120°E
    zone): the extent is the box of the CRS84 geometries, not a projected box spanning the globe."""
    from core import layers

    far, near = (87.6, 43.8), (120.0, 31.5)
    with database.begin() as conn:
        for lon, lat in (far, near):
            conn.execute(
                text(
                    """INSERT INTO emergency_event (type, source, severity, params, location)
                       VALUES ('fire', 'ogc-test', 'minor', '{}'::jsonb,
                               ST_Transform(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 4549))"""
                ),
                {"lon": lon, "lat": lat},
            )
    try:
        layers._extent_cache.clear()
        extent = client.get(f"{API}/collections/emergency_events").json()["extent"]["spatial"]["bbox"][0]
        back = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True)
        points = [
            back.transform(r["x"], r["y"])
            for r in rows(
                "SELECT ST_X(location) AS x, ST_Y(location) AS y FROM emergency_event WHERE source = 'ogc-test'"
            )
        ]
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        assert extent == pytest.approx([min(lons), min(lats), max(lons), max(lats)], abs=2e-7)
        assert extent[2] - extent[0] < 33  # 87.6°E to 120°E, not the globe
    finally:
        with database.begin() as conn:
            conn.execute(text("DELETE FROM emergency_event WHERE source = 'ogc-test'"))
        layers._extent_cache.clear()


def test_the_ogc_api_definition_names_each_collections_properties(client, sample_city):
    from openapi_spec_validator import validate

    from core.registry import registry

    landing = client.get(f"{API}/").json()
    href = next(link["href"] for link in landing["links"] if link["rel"] == "service-desc")
    assert href.endswith("/api/v1/api")
    response = client.get(href)
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    document = response.json()
    validate(document)
    for layer in registry().layers:
        parameters = {p["name"]: p for p in document["paths"][f"/collections/{layer.name}/items"]["get"]["parameters"]}
        assert {p.name for p in layer.properties} <= set(parameters)
        assert "cql-text" in parameters["filter-lang"]["schema"]["enum"]
        assert "hits" in parameters["resultType"]["schema"]["enum"]
    assert "/conformance" in document["paths"] and "/collections/{collectionId}" in document["paths"]

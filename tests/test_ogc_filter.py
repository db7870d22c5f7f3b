"""OGC API Features Part 3 on the sample city: queryables, CQL2 text and JSON filters (comparison,
spatial, temporal) and sortby. Expected answers from raw SQL and shapely."""

from __future__ import annotations

import json
from datetime import date

import pytest
import shapely
from shapely.geometry import box

API = "/api/v1"


def _ids(client, collection: str, **params) -> list:
    response = client.get(f"{API}/collections/{collection}/items", params={"limit": 10000, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["numberMatched"] == len(body["features"])
    return [f["id"] for f in body["features"]]


def test_conformance_lists_the_parts(client, sample_city):
    classes = set(client.get(f"{API}/conformance").json()["conformsTo"])
    for needed in (
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    ):
        assert needed in classes


def test_queryables_come_from_the_registry(client, sample_city):
    from core.registry import registry

    response = client.get(f"{API}/collections/pipelines/queryables")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    layer = registry().layer("pipelines")
    assert set(schema["properties"]) == {"geometry"} | {p.name for p in layer.properties}
    kinds = {"text": "string", "int": "integer", "float": "number", "bool": "boolean"}
    for prop in layer.properties:
        entry = schema["properties"][prop.name]
        assert entry["title"] == prop.label.zh and entry["description"] == prop.label.en
        assert entry["type"] == kinds[prop.type]
    assert schema["properties"]["utility"]["title"] == "管线类别"
    links = client.get(f"{API}/collections/pipelines").json()["links"]
    assert any(link["rel"].endswith("queryables") for link in links)


def test_comparison_filters_match_sql(client, sample_city, rows):
    expected = {r["id"] for r in rows("SELECT id FROM pipeline WHERE utility = 'gas' AND diameter_mm >= 200")}
    assert expected
    text_ids = _ids(client, "pipelines", filter="utility = 'gas' AND diameter_mm >= 200")
    as_json = {"op": "and", "args": [
        {"op": "=", "args": [{"property": "utility"}, "gas"]},
        {"op": ">=", "args": [{"property": "diameter_mm"}, 200]},
    ]}  # fmt: skip
    json_ids = _ids(client, "pipelines", filter=json.dumps(as_json), **{"filter-lang": "cql2-json"})
    assert set(text_ids) == set(json_ids) == expected
    between = {
        r["code"]
        for r in rows(
            "SELECT code FROM building WHERE floors_above BETWEEN 3 AND 6 AND use IN ('residential', 'office')"
        )
    }
    assert (
        set(_ids(client, "buildings", filter="floors_above BETWEEN 3 AND 6 AND use IN ('residential', 'office')"))
        == between
    )
    prefix = rows("SELECT min(address) AS a FROM building")[0]["a"][:3]
    like = {r["code"] for r in rows("SELECT code FROM building WHERE address LIKE :p", p=f"{prefix}%")}
    assert set(_ids(client, "buildings", filter=f"address LIKE '{prefix}%'")) == like
    nulls = {r["code"] for r in rows("SELECT code FROM building WHERE project_code IS NULL")}
    assert set(_ids(client, "buildings", filter="project_code IS NULL")) == nulls


def test_spatial_filters_match_shapely(client, sample_city, rows, to_lonlat):
    buildings = {
        r["code"]: to_lonlat(r["wkb_g"]) for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")
    }
    lon0, lat0, lon1, lat1 = shapely.union_all(list(buildings.values())).bounds
    area = box(lon0, lat0, lon0 + (lon1 - lon0) * 0.45, lat0 + (lat1 - lat0) * 0.55)
    near_edge = {c for c, g in buildings.items() if g.distance(area.exterior) < 1e-6}
    for operator, test in (("S_INTERSECTS", "intersects"), ("S_WITHIN", "within")):
        expected = {c for c, g in buildings.items() if getattr(g, test)(area)}
        assert 2 < len(expected) < len(buildings)
        got = set(_ids(client, "buildings", filter=f"{operator}(geometry, {area.wkt})"))
        assert got ^ expected <= near_edge, operator
    as_json = {"op": "s_intersects", "args": [{"property": "geometry"}, json.loads(shapely.to_geojson(area))]}
    got = set(_ids(client, "buildings", filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}))
    assert got ^ {c for c, g in buildings.items() if g.intersects(area)} <= near_edge


def test_temporal_filters_match_sql(client, sample_city, rows):
    spans = rows("SELECT code, planned_start FROM project WHERE deleted_at IS NULL AND planned_start IS NOT NULL")
    starts = sorted(r["planned_start"] for r in spans)
    pivot, later = starts[len(starts) // 3], starts[2 * len(starts) // 3]
    assert pivot < later
    cases = {
        f"T_AFTER(planned_start, DATE('{pivot}'))": lambda d: d > pivot,
        f"T_BEFORE(planned_start, TIMESTAMP('{pivot}T00:00:00Z'))": lambda d: d < pivot,
        f"T_INTERSECTS(planned_start, INTERVAL('{pivot}', '{later}'))": lambda d: pivot <= d <= later,
        f"T_DURING(planned_start, INTERVAL('{pivot}', '..'))": lambda d: d > pivot,
        f"planned_start >= DATE('{pivot}') AND NOT T_AFTER(planned_start, DATE('{later}'))": lambda d: (
            pivot <= d <= later
        ),
    }
    for cql, keep in cases.items():
        expected = {r["code"] for r in spans if keep(r["planned_start"])}
        assert set(_ids(client, "projects", filter=cql)) == expected, cql
    assert isinstance(pivot, date)


def test_sortby_orders_like_sql(client, sample_city, rows):
    expected = [r["code"] for r in rows("SELECT code FROM building ORDER BY height_m DESC NULLS LAST, code LIMIT 25")]
    assert _ids_page(client, "buildings", sortby="-height_m", limit=25) == expected
    expected = [r["code"] for r in rows("SELECT code FROM building ORDER BY use, floors_above DESC, code LIMIT 25")]
    assert _ids_page(client, "buildings", sortby="+use,-floors_above", limit=25) == expected


def _ids_page(client, collection: str, **params) -> list:
    return [f["id"] for f in client.get(f"{API}/collections/{collection}/items", params=params).json()["features"]]


@pytest.mark.parametrize(
    "cql",
    [
        "colour = 'red'",  # not a queryable
        "code = 'x'; DROP TABLE building",  # SQL after a filter
        "code = 'x' OR 1=1 --",
        "pg_sleep(5) = 1",  # a function the API does not offer
        "S_INTERSECTS(footprint, POINT(120 31))",  # a column that is not the geometry queryable
        "T_AFTER(height_m, DATE('2020-01-01'))",  # a temporal operator on a number
        "code = ",  # not CQL2
    ],
)
def test_bad_filters_are_400_and_change_nothing(client, sample_city, rows, cql):
    before = rows("SELECT count(*) AS n FROM building")[0]["n"]
    response = client.get(f"{API}/collections/buildings/items", params={"filter": cql})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert rows("SELECT count(*) AS n FROM building")[0]["n"] == before


def test_a_quote_in_a_literal_stays_a_value(client, sample_city):
    assert _ids(client, "buildings", filter="address = 'x'' OR ''1''=''1'") == []

"""Thematic values for 3D Tiles styles and MVT tiles, checked against raw SQL, pyproj and shapely."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box

API = "/api/v1"


def test_thematic_contractor_grade_of_buildings(client, sample_city, rows):
    answer = client.get(f"{API}/thematic/buildings", params={"theme": "contractor_grade"}).json()
    expected = {
        r["code"]: r["grade"]
        for r in rows(
            """SELECT b.code, e.credit_grade AS grade FROM building b
                 LEFT JOIN project p ON p.code = b.project_code LEFT JOIN enterprise e ON e.uscc = p.contractor_uscc"""
        )
    }
    assert answer["values"] == expected
    assert set(answer["legend"]) == {"A", "B", "C", "D"}
    assert any(v is not None for v in expected.values())


def test_thematic_safety_grade_and_stage(client, sample_city, rows):
    safety = client.get(f"{API}/thematic/buildings", params={"theme": "safety_grade"}).json()["values"]
    assert safety == {r["code"]: r["safety_grade"] for r in rows("SELECT code, safety_grade FROM building")}
    stage = client.get(f"{API}/thematic/projects", params={"theme": "project_stage"}).json()["values"]
    assert stage == {r["code"]: r["stage"] for r in rows("SELECT code, stage FROM project")}


def test_thematic_of_bim_is_the_city_map_newest_published_version(client, demo_model, rows):
    """Each GlobalId once, from the newest published version of its model (as the bim tiles)."""
    published = rows(
        """SELECT e.global_id, v.id AS version_id, v.model_id, v.version_no, en.credit_grade
             FROM bim_element e JOIN bim_model_version v ON v.id = e.version_id AND v.status = 'published'
             JOIN bim_model m ON m.id = v.model_id LEFT JOIN project p ON p.code = m.project_code
             LEFT JOIN enterprise en ON en.uscc = p.contractor_uscc"""
    )
    newest = {}
    for r in published:
        newest[r["model_id"]] = max(newest.get(r["model_id"], 0), r["version_no"])
    expected: dict[str, tuple[int, str | None]] = {}
    for r in published:
        if r["version_no"] == newest[r["model_id"]] and r["version_id"] > expected.get(r["global_id"], (0, None))[0]:
            expected[r["global_id"]] = (r["version_id"], r["credit_grade"])
    answer = client.get(f"{API}/thematic/bim_elements", params={"theme": "contractor_grade"}).json()
    assert answer["values"] == {gid: grade for gid, (_, grade) in expected.items()}
    assert demo_model["elements"] > 0 and len(answer["values"]) >= demo_model["elements"]


def test_thematic_problems(client, sample_city):
    assert client.get(f"{API}/thematic/nowhere", params={"theme": "safety_grade"}).status_code == 404
    assert client.get(f"{API}/thematic/buildings", params={"theme": "colour"}).status_code == 400
    assert client.get(f"{API}/thematic/buildings").status_code == 422


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def _tile_bounds_3857(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    half = 20037508.342789244
    size = 2 * half / 2**z
    return -half + x * size, half - (y + 1) * size, -half + (x + 1) * size, half - y * size


@pytest.mark.parametrize("layer", ["buildings", "pipelines"])
def test_mvt_tile_holds_the_features_in_it(client, sample_city, rows, to_lonlat, layer):
    geom_sql = {"buildings": "code AS id, ST_AsBinary(footprint)", "pipelines": "id, ST_AsBinary(ST_Force2D(geom))"}
    table = {"buildings": "building", "pipelines": "pipeline"}[layer]
    features = {r["id"]: r["wkb_g"] for r in rows(f"SELECT {geom_sql[layer]} AS wkb_g FROM {table}")}
    to_3857 = Transformer.from_crs("EPSG:4549", "EPSG:3857", always_xy=True)
    merc = {
        k: shapely.transform(g, lambda x, y: to_3857.transform(x.tolist(), y.tolist()), interleaved=False)
        for k, g in features.items()
    }
    centre = to_lonlat(shapely.union_all(list(features.values())).centroid)
    z = 17
    x, y = _tile_of(centre.x, centre.y, z)
    bounds = _tile_bounds_3857(z, x, y)
    response = client.get(f"{API}/mvt/{layer}/{z}/{x}/{y}.pbf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    got = {f["properties"]["id"] for f in decoded[layer]["features"]}
    inside = {k for k, g in merc.items() if g.intersects(box(*bounds))}
    margin = (bounds[2] - bounds[0]) * 64 / 4096
    near = {k for k, g in merc.items() if g.intersects(box(*bounds).buffer(margin + 0.01, join_style="mitre"))}
    assert inside and inside <= got <= near


# Each 2D layer's id and store-CRS geometry in raw SQL, written here apart from the collection registry.
LAYER_SQL = {
    "buildings": "SELECT code AS id, ST_AsBinary(footprint) AS wkb_g FROM building",
    "parcels": "SELECT code AS id, ST_AsBinary(geom) AS wkb_g FROM parcel",
    "roads": "SELECT code AS id, ST_AsBinary(red_line) AS wkb_g FROM road",
    "pipelines": "SELECT id, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline",
    "pipe_nodes": "SELECT id, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipe_node",
    "tunnels": "SELECT id, ST_AsBinary(ST_Force2D(axis)) AS wkb_g FROM utility_tunnel",
    "tunnel_compartments": None,  # offset lines computed with shapely below
    "projects": "SELECT code AS id, ST_AsBinary(footprint) AS wkb_g FROM project WHERE footprint IS NOT NULL",
    "enterprises": "SELECT uscc AS id, ST_AsBinary(location) AS wkb_g FROM enterprise WHERE location IS NOT NULL",
    "sensors": "SELECT id, ST_AsBinary(ST_Force2D(position)) AS wkb_g FROM sensor",
    "bim_elements": """SELECT DISTINCT e.global_id AS id, ST_AsBinary(e.footprint) AS wkb_g
                         FROM bim_element e JOIN bim_model_version v ON v.id = e.version_id
                        WHERE v.status = 'published' AND e.footprint IS NOT NULL
                          AND v.version_no = (SELECT max(version_no) FROM bim_model_version w
                                               WHERE w.model_id = v.model_id AND w.status = 'published')""",
    "emergency_events": "SELECT id, ST_AsBinary(location) AS wkb_g FROM emergency_event",
    "alarms": "SELECT id, ST_AsBinary(ST_Force2D(location)) AS wkb_g FROM alarm",
}


def _layer_geometries(rows, layer: str) -> dict:
    if layer != "tunnel_compartments":
        return {r["id"]: r["wkb_g"] for r in rows(LAYER_SQL[layer])}
    found = rows(
        """SELECT c.id, c.offset_m, c.width_m AS cw, u.width_m AS tw, ST_AsBinary(ST_Force2D(u.axis)) AS wkb_axis
             FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id"""
    )
    return {c["id"]: c["wkb_axis"].offset_curve(c["tw"] / 2 - c["offset_m"] - c["cw"] / 2) for c in found}


def test_every_collection_has_a_vector_tile_case():
    from core.registry import registry

    assert set(LAYER_SQL) == set(registry().names())


@pytest.mark.parametrize("layer", sorted(LAYER_SQL))
def test_mvt_of_every_layer_holds_the_features_in_the_tile(
    client, sample_city, demo_model, emergency_event, sample_alarm, rows, to_lonlat, layer
):
    """Decode the tile at a feature of the layer (z 17): its layer is named after the collection, and its
    features are exactly those whose geometry (pyproj to Web Mercator, shapely) meets the tile, give or take
    the tile's 64/4096 buffer; properties are the collection's."""
    from core.registry import registry

    features = _layer_geometries(rows, layer)
    assert features, f"the sample city has {layer}"
    to_3857 = Transformer.from_crs("EPSG:4549", "EPSG:3857", always_xy=True)
    merc = {
        str(k): shapely.transform(g, lambda x, y: to_3857.transform(x.tolist(), y.tolist()), interleaved=False)
        for k, g in features.items()
    }
    first = features[min(features)]
    at = to_lonlat(first.point_on_surface())  # a point on the feature, for lines and points too
    z = 17
    x, y = _tile_of(at.x, at.y, z)
    bounds = _tile_bounds_3857(z, x, y)
    response = client.get(f"{API}/mvt/{layer}/{z}/{x}/{y}.pbf")
    assert response.status_code == 200, response.text
    decoded = mapbox_vector_tile.decode(response.content)
    assert list(decoded) == [layer]
    got = [str(f["properties"]["id"]) for f in decoded[layer]["features"]]
    assert len(got) == len(set(got)), "each feature once"
    tile = box(*bounds)
    margin = (bounds[2] - bounds[0]) * 64 / 4096
    inside = {k for k, g in merc.items() if g.intersects(tile)}
    near = {k for k, g in merc.items() if g.intersects(tile.buffer(margin + 0.01, join_style="mitre"))}
    assert inside and inside <= set(got) <= near
    allowed = set(registry().layer(layer).property_types) | {"id"}
    assert all(set(f["properties"]) <= allowed for f in decoded[layer]["features"])


@pytest.mark.parametrize(
    ("url", "status"),
    [("/mvt/nowhere/1/0/0.pbf", 404), ("/mvt/buildings/2/9/0.pbf", 400), ("/mvt/buildings/40/0/0.pbf", 422)],
)
def test_mvt_problems(client, sample_city, url, status):
    response = client.get(API + url)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"

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


@pytest.mark.parametrize(
    ("url", "status"),
    [("/mvt/nowhere/1/0/0.pbf", 404), ("/mvt/buildings/2/9/0.pbf", 400), ("/mvt/buildings/40/0/0.pbf", 422)],
)
def test_mvt_problems(client, sample_city, url, status):
    response = client.get(API + url)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"

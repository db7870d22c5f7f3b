"""Tiles of the sample city: every layer's ids equal its rows, every tile a valid glb, a pipe at its
real depth under the DEM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from tests.fixtures_tiles import accessor, property_strings, read_glb, validate_gltf, walk_tiles

LAYERS = {
    "buildings": "SELECT code FROM building WHERE height_m > 0",
    "pipelines": "SELECT id FROM pipeline",
    "pipe_nodes": "SELECT id FROM pipe_node",
    "tunnel_compartments": "SELECT id FROM tunnel_compartment",
}


@pytest.fixture(scope="module")
def city_tiles(sample_city) -> dict[str, dict]:
    from tiles.build import build_layer

    return {layer: build_layer(layer) for layer in LAYERS}


def _contents(summary: dict) -> list[tuple[Path, np.ndarray]]:
    path = Path(summary["tileset"])
    tileset = json.loads(path.read_text())
    return [
        (path.parent / t["content"]["uri"].split("?")[0], world)
        for t, world, _ in walk_tiles(tileset["root"])
        if "content" in t
    ]


@pytest.mark.parametrize("layer", LAYERS)
def test_city_layer_has_every_row_once_in_tiles_under_1mb(city_tiles, database, layer):
    with database.connect() as conn:
        rows = {r[0] for r in conn.execute(text(LAYERS[layer]))}
    contents = _contents(city_tiles[layer])
    ids: list[str] = []
    for path, _ in contents:
        ids += property_strings(*read_glb(path), "id")
    assert rows and len(ids) == len(set(ids)) and set(ids) == rows
    assert max(p.stat().st_size for p, _ in contents) < 1_000_000


def test_every_city_tile_passes_gltf_validator(city_tiles):
    """All content files of all the city's layers, in one validator run."""
    files = [path for summary in city_tiles.values() for path, _ in _contents(summary)]
    assert len(files) == sum(summary["tiles"] for summary in city_tiles.values())
    report = validate_gltf(files)
    assert len(report) == len(files)
    assert not {f: r["messages"] for f, r in report.items() if r["errors"] or r["warnings"]}


def test_city_pipe_lies_at_the_recorded_cover_below_the_dem(city_tiles, database):
    from gis.dem import ground_heights

    with database.connect() as conn:
        pid, wkt, diameter, depth = conn.execute(
            text(
                """SELECT id, ST_AsText(geom), diameter_mm, depth_m FROM pipeline
                   WHERE depth_ref = 'top' AND diameter_mm > 0 ORDER BY id LIMIT 1"""
            )
        ).one()
    axis = np.array(shapely.from_wkt(wkt).coords)
    radius = diameter / 2000
    to_store = Transformer.from_crs("EPSG:4978", "EPSG:4549+5773", always_xy=True)
    for path, world in _contents(city_tiles["pipelines"]):
        gltf, binary = read_glb(path)
        ids = property_strings(gltf, binary, "id")
        if pid in ids:
            attributes = gltf["meshes"][0]["primitives"][0]["attributes"]
            fid = accessor(gltf, binary, attributes["_FEATURE_ID_0"])[:, 0].astype(int)
            local = accessor(gltf, binary, attributes["POSITION"])[fid == ids.index(pid)].astype(float)
            ecef = np.column_stack([local[:, 0], -local[:, 2], local[:, 1]]) @ world[:3, :3].T + world[:3, 3]
            points = np.column_stack(to_store.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2]))
            break
    else:
        pytest.fail(f"{pid} is in no tile")
    covers = []
    for vertex in axis:
        near = np.linalg.norm(points - vertex, axis=1)
        ring = points[np.abs(near - radius) < 0.01]  # the tube ring at this vertex
        assert len(ring) >= 8
        covers.append(ground_heights(vertex[None, :2])[0] - ring[:, 2].max())
    assert min(covers) == pytest.approx(depth, abs=0.02)

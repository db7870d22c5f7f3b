"""3D Tiles 1.0 (b3dm) for legacy clients, read back with py3dtiles' own reader: BATCH_LENGTH set,
a batch id per vertex within it, the batch table's ids equal to the rows, the glTF inside valid."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from tests.fixtures_tiles import BAD, validate_gltf, walk_tiles

LAYERS = {
    "buildings": "SELECT code FROM building",
    "pipelines": "SELECT id FROM pipeline",
}


@pytest.fixture(scope="module")
def built_b3dm(tile_rows) -> dict[str, dict]:
    from tiles.build import build_layer

    return {layer: build_layer(layer, formats="b3dm") for layer in LAYERS}


def _contents(summary: dict) -> list[Path]:
    path = Path(summary["tileset"])
    tileset = json.loads(path.read_text())
    assert path.name == "tileset-b3dm.json" and tileset["asset"]["version"] == "1.0"
    assert "schema" not in tileset  # 1.0 has none: the properties are in each tile's batch table
    return [
        path.parent / t["content"]["uri"].split("?")[0] for t, _, _ in walk_tiles(tileset["root"]) if "content" in t
    ]


@pytest.mark.parametrize("layer", LAYERS)
def test_b3dm_read_by_py3dtiles_has_batch_length_and_the_rows_ids(built_b3dm, database, layer):
    from py3dtiles.tileset.content.b3dm import B3dm

    with database.connect() as conn:
        rows = {r[0] for r in conn.execute(text(LAYERS[layer]))} - set(BAD.get(layer, {}))
    files = _contents(built_b3dm[layer])
    assert files and all(f.suffix == ".b3dm" for f in files)
    from py3dtiles.tileset.tileset import TileSet

    tileset = TileSet.from_file(Path(built_b3dm[layer]["tileset"]))  # py3dtiles' reader takes it
    assert tileset.geometric_error >= tileset.root_tile.geometric_error >= 0
    assert tileset.root_tile.bounding_volume is not None
    ids: list[str] = []
    for path in files:
        tile = B3dm.from_file(path)
        batch_length = tile.body.feature_table.get_batch_length()
        table = tile.body.batch_table.header.data
        assert batch_length == len(table["id"]) > 0
        assert all(len(values) == batch_length for values in table.values())
        batch_ids = tile.get_extra_field("batchid")
        assert batch_ids is not None and batch_ids.dtype == np.float32  # not UINT32: glTF forbids it
        assert set(np.unique(batch_ids).astype(int)) == set(range(batch_length))  # every feature drawn
        ids += table["id"]
    assert len(ids) == len(set(ids))
    assert set(ids) == rows


def test_b3dm_batch_table_carries_the_key_fields(built_b3dm):
    from py3dtiles.tileset.content.b3dm import B3dm

    for path in _contents(built_b3dm["pipelines"]):
        table = B3dm.from_file(path).body.batch_table.header.data
        if "TT-P1" in table["id"]:
            k = table["id"].index("TT-P1")
            assert table["utility"][k] == "water"
            assert table["diameter_mm"][k] == 300.0
            assert table["depth_m"][k] == 1.2
            return
    pytest.fail("TT-P1 is in no b3dm")


def test_glb_inside_every_b3dm_passes_gltf_validator(built_b3dm, tmp_path):
    files = []
    for layer, summary in built_b3dm.items():
        for k, path in enumerate(_contents(summary)):
            data = path.read_bytes()
            magic, version, length, ft_json, ft_bin, bt_json, bt_bin = struct.unpack_from("<4sIIIIII", data)
            assert (magic, version, length) == (b"b3dm", 1, len(data))
            start = 28 + ft_json + ft_bin + bt_json + bt_bin
            assert start % 8 == 0 and len(data) % 8 == 0  # the glb starts and ends on 8-byte boundaries
            assert json.loads(data[28 : 28 + ft_json])["BATCH_LENGTH"] > 0
            inner = tmp_path / f"{layer}-{k}.glb"
            inner.write_bytes(data[start:])
            files.append(inner)
    report = validate_gltf(files)
    assert not {f: r["messages"] for f, r in report.items() if r["errors"] or r["warnings"]}


def test_b3dm_tileset_and_content_are_served(client, built_b3dm):
    response = client.get("/api/v1/tiles/pipelines/tileset-b3dm.json")
    assert response.status_code == 200 and response.json()["asset"]["version"] == "1.0"
    tile = response.json()["root"]
    while "content" not in tile:
        tile = tile["children"][0]
    content = client.get(f"/api/v1/tiles/pipelines/{tile['content']['uri']}")
    assert content.status_code == 200 and content.content[:4] == b"b3dm"
    assert "max-age" in content.headers["cache-control"]

"""Tilesets built from known rows: valid glb, sound hierarchy, every row's id, bad rows skipped,
pipes at their real position and depth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import text

from tests.fixtures_tiles import (
    BAD,
    P1_AXIS_Z,
    P1_DEPTH,
    P1_DIAMETER,
    P1_GROUND,
    X0,
    Y0,
    _box_tin,
    accessor,
    insert_bim_version,
    property_strings,
    read_glb,
    validate_gltf,
    walk_tiles,
)

LAYERS = ["buildings", "pipelines", "pipe_nodes", "tunnel_compartments", "bim_elements"]
ID_SQL = {
    "buildings": "SELECT code FROM building",
    "pipelines": "SELECT id FROM pipeline",
    "pipe_nodes": "SELECT id FROM pipe_node",
    "tunnel_compartments": "SELECT id FROM tunnel_compartment",
    # the newest published version of each model
    "bim_elements": """SELECT e.global_id FROM bim_element e JOIN bim_model_version v ON v.id = e.version_id
              WHERE v.status = 'published' AND NOT EXISTS (
                  SELECT 1 FROM bim_model_version w
                  WHERE w.model_id = v.model_id AND w.status = 'published' AND w.version_no > v.version_no)""",
}


@pytest.fixture(scope="module")
def built(tile_rows) -> dict[str, dict]:
    from tiles.build import build_layer

    return {layer: build_layer(layer) for layer in LAYERS}


def _tileset(summary: dict) -> tuple[dict, Path]:
    path = Path(summary["tileset"])
    return json.loads(path.read_text()), path.parent


def _content_files(tileset: dict, base: Path) -> list[Path]:
    return [base / t["content"]["uri"].split("?")[0] for t, _, _ in walk_tiles(tileset["root"]) if "content" in t]


def test_every_glb_passes_gltf_validator(built):
    files = [f for summary in built.values() for f in _content_files(*_tileset(summary))]
    assert files
    report = validate_gltf(files)
    failures = {f: r["messages"] for f, r in report.items() if r["errors"]}
    assert not failures
    assert not any(r["warnings"] for r in report.values())


def _box_corners_world(box: list[float], world: np.ndarray) -> np.ndarray:
    c, axes = np.array(box[:3]), np.array(box[3:]).reshape(3, 3)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    local = c + signs @ axes
    return local @ world[:3, :3].T + world[:3, 3]


def _inside(points: np.ndarray, box: list[float], world: np.ndarray, tol: float = 0.01) -> bool:
    """Whether world points lie in a tile's box (given in the tile's frame)."""
    inverse = np.linalg.inv(world)
    local = points @ inverse[:3, :3].T + inverse[:3, 3]
    c, axes = np.array(box[:3]), np.array(box[3:]).reshape(3, 3)
    coeff = np.linalg.solve(axes.T, (local - c).T).T  # coordinates in half-axis units
    half_lengths = np.linalg.norm(axes, axis=1)
    return bool(np.all(np.abs(coeff) <= 1 + tol / np.maximum(half_lengths, 1e-9)))


@pytest.mark.parametrize("layer", LAYERS)
def test_boxes_contain_content_and_children_and_error_decreases(built, layer):
    tileset, base = _tileset(built[layer])
    assert tileset["asset"]["version"] == "1.1"
    assert tileset["geometricError"] > tileset["root"]["geometricError"]
    checked = 0
    for tile, world, _ in walk_tiles(tileset["root"]):
        box = tile["boundingVolume"]["box"]
        for child in tile.get("children", []):
            assert child["geometricError"] < tile["geometricError"]
            child_world = world @ (np.array(child["transform"]).reshape(4, 4).T if "transform" in child else np.eye(4))
            assert _inside(_box_corners_world(child["boundingVolume"]["box"], child_world), box, world)
        if "content" in tile:
            gltf, binary = read_glb(base / tile["content"]["uri"].split("?")[0])
            positions = accessor(gltf, binary, gltf["meshes"][0]["primitives"][0]["attributes"]["POSITION"])
            z_up = np.column_stack([positions[:, 0], -positions[:, 2], positions[:, 1]]).astype(float)
            world_points = z_up @ world[:3, :3].T + world[:3, 3]
            assert _inside(world_points, box, world)
            checked += 1
    assert checked == built[layer]["tiles"] > 0


def _tile_ids(summary: dict) -> list[str]:
    tileset, base = _tileset(summary)
    ids: list[str] = []
    for path in _content_files(tileset, base):
        gltf, binary = read_glb(path)
        ids += property_strings(gltf, binary, "id")
        feature_ids = accessor(gltf, binary, gltf["meshes"][0]["primitives"][0]["attributes"]["_FEATURE_ID_0"])
        table = gltf["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
        assert set(np.unique(feature_ids).astype(int)) <= set(range(table["count"]))
    return ids


@pytest.mark.parametrize("layer", LAYERS)
def test_feature_ids_equal_postgis_rows_minus_the_skipped(built, database, layer):
    with database.connect() as conn:
        rows = {r[0] for r in conn.execute(text(ID_SQL[layer]))}
    ids = _tile_ids(built[layer])
    assert len(ids) == len(set(ids))  # each feature in exactly one tile
    assert set(ids) == rows - set(BAD.get(layer, {}))


def test_bad_rows_are_skipped_with_counted_warnings(built):
    assert built["buildings"]["skipped"] == {"invalid or empty footprint": 2, "no height (NULL or not positive)": 1}
    skipped = built["pipelines"]["skipped"]
    assert skipped["zero-length axis"] == 1
    assert skipped["no diameter: drawn at 100 mm"] == 1  # TT-PND is still drawn


def test_pipe_decoded_from_its_tile_lies_within_1cm_of_postgis_at_its_depth(built, database):
    tileset, base = _tileset(built["pipelines"])
    with database.connect() as conn:
        axis_wkt = conn.execute(text("SELECT ST_AsText(geom) FROM pipeline WHERE id = 'TT-P1'")).scalar_one()
    axis = np.array(shapely.from_wkt(axis_wkt).coords)
    to_store = Transformer.from_crs("EPSG:4978", "EPSG:4549+5773", always_xy=True)
    radius = P1_DIAMETER / 2000
    for tile, world, _ in walk_tiles(tileset["root"]):
        if "content" not in tile:
            continue
        gltf, binary = read_glb(base / tile["content"]["uri"].split("?")[0])
        ids = property_strings(gltf, binary, "id")
        if "TT-P1" not in ids:
            continue
        attributes = gltf["meshes"][0]["primitives"][0]["attributes"]
        fid = accessor(gltf, binary, attributes["_FEATURE_ID_0"])[:, 0].astype(int)
        positions = accessor(gltf, binary, attributes["POSITION"])[fid == ids.index("TT-P1")]
        z_up = np.column_stack([positions[:, 0], -positions[:, 2], positions[:, 1]]).astype(float)
        ecef = z_up @ world[:3, :3].T + world[:3, 3]
        x, y, z = to_store.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2])
        points = np.column_stack([x, y, z])
        break
    else:
        pytest.fail("TT-P1 is in no tile")
    # distance of each decoded vertex to the 3D axis polyline from PostGIS
    a, b = axis[:-1], axis[1:]
    ab = b - a
    t = np.clip(np.einsum("pij,ij->pi", points[:, None] - a, ab) / np.einsum("ij,ij->i", ab, ab), 0, 1)
    dist = np.linalg.norm(points[:, None] - (a + t[..., None] * ab), axis=2).min(axis=1)
    on_tube = np.abs(dist - radius) < 0.01
    assert on_tube.sum() >= 16  # the tube's rings (8 sides × 2 ends) are on the pipe's surface
    assert dist.max() < radius / 0.7946544722917661 + 0.01  # nothing beyond the joints' icosahedra
    # The top of the tube at the upstream end: ground minus the recorded cover depth.
    upstream = on_tube & (np.linalg.norm(points[:, :2] - axis[0, :2], axis=1) < 0.01 + radius)
    top = points[upstream, 2].max()
    assert top == pytest.approx(P1_AXIS_Z + radius, abs=0.01)
    assert P1_GROUND - top == pytest.approx(P1_DEPTH, abs=0.01)


def test_property_types_follow_postgresql(built):
    tileset, _ = _tileset(built["pipelines"])
    props = tileset["schema"]["classes"]["pipeline"]["properties"]
    assert props["id"] == {"type": "STRING", "required": True}
    assert props["diameter_mm"]["componentType"] == "FLOAT64"  # float8
    assert props["install_year"]["componentType"] == "INT32"  # int4
    nodes, _ = _tileset(built["pipe_nodes"])
    assert nodes["schema"]["classes"]["pipe_node"]["properties"]["is_open"] == {"type": "BOOLEAN"}


STYLE_OF = {
    "buildings": "building",
    "pipelines": "pipeline",
    "pipe_nodes": "pipe_node",
    "tunnel_compartments": "tunnel_compartment",
    "bim_elements": "bim_element",
}


def _hex(rgba: list[float]) -> str:
    return "#" + "".join(f"{round(c * 255):02X}" for c in rgba[:3])


@pytest.mark.parametrize("layer", LAYERS)
def test_styles_use_the_layers_properties_and_legend_colours(built, layer):
    """The registry's style colours by a property of the tile class, after a vocabulary with colours;
    every material a tile holds is a colour of that style, and each feature's triangles have the
    colour of its value (read back from the glb, the value from the property table)."""
    from core import vocab
    from core.registry import registry

    style = registry().layer(layer).style
    tileset, base = _tileset(built[layer])
    properties = set(tileset["schema"]["classes"][STYLE_OF[layer]]["properties"])
    if style.color:
        colours = {style.color.upper()}
    else:
        assert style.property in properties
        words = vocab.get(style.vocab)
        assert words.entries and all(e.color for e in words.entries)
        by_value = {e.code: e.color.upper() for e in words.entries}
        colours = set(by_value.values()) | {words.other.color.upper()}
    checked = 0
    for path in _content_files(tileset, base):
        gltf, binary = read_glb(path)
        used = {p["material"] for p in gltf["meshes"][0]["primitives"]}
        assert used == set(range(len(gltf["materials"]))), f"{path.name} writes materials no triangle uses"
        assert {_hex(m["pbrMetallicRoughness"]["baseColorFactor"]) for m in gltf["materials"]} <= colours
        if style.color or checked >= 3:
            continue
        checked += 1
        values = property_strings(gltf, binary, style.property)
        for primitive in gltf["meshes"][0]["primitives"]:
            colour = _hex(gltf["materials"][primitive["material"]]["pbrMetallicRoughness"]["baseColorFactor"])
            feature_ids = accessor(gltf, binary, primitive["attributes"]["_FEATURE_ID_0"]).astype(int)
            triangles = accessor(gltf, binary, primitive["indices"]).astype(int)
            for fid in np.unique(feature_ids[triangles]):
                value = values[fid].split(",")[0] if style.first_of_list else values[fid]
                assert colour == by_value.get(value, words.other.color.upper()), (path.name, value)


@pytest.mark.parametrize("layer", LAYERS)
def test_tiles_write_every_column_their_class_declares(built, layer):
    """The property table of every tile holds each property of the class (noData where a value is
    missing): 3d-tiles-validator 0.6.1 fails on a table that leaves one out."""
    tileset, base = _tileset(built[layer])
    declared = tileset["schema"]["classes"][STYLE_OF[layer]]["properties"]
    for path in _content_files(tileset, base):
        gltf, _ = read_glb(path)
        metadata = gltf["extensions"]["EXT_structural_metadata"]
        assert metadata["schema"]["classes"][STYLE_OF[layer]]["properties"] == declared
        table = metadata["propertyTables"][0]
        assert set(table["properties"]) == set(declared), path.name


def test_building_tiles_carry_bim_model_id_as_nodata_where_empty(built, database):
    """bim_model_id: declared by the building class, present in every tile, noData for buildings
    without a model (the property table, read back, against SQL)."""
    from tiles.metadata import NO_DATA

    with database.connect() as conn:
        expected = dict(conn.execute(text("SELECT code, bim_model_id FROM building")).all())
    tileset, base = _tileset(built["buildings"])
    assert tileset["schema"]["classes"]["building"]["properties"]["bim_model_id"]["noData"] == NO_DATA["INT32"]
    seen = {}
    for path in _content_files(tileset, base):
        gltf, binary = read_glb(path)
        table = gltf["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
        ids = property_strings(gltf, binary, "id")
        view = gltf["bufferViews"][table["properties"]["bim_model_id"]["values"]]
        start = view.get("byteOffset", 0)
        values = np.frombuffer(binary[start : start + view["byteLength"]], "<i4")
        seen |= dict(zip(ids, values.tolist(), strict=True))
    assert seen and set(seen) <= set(expected)
    assert all(seen[c] == (NO_DATA["INT32"] if expected[c] is None else expected[c]) for c in seen)


def test_bim_version_tilesets_pass_gltf_validator_and_hold_the_versions_elements(tile_rows, database):
    from tiles.build import build_bim_version

    files, expected = [], {}
    for key in ("bim_published", "bim_draft"):
        version = tile_rows[key]
        summary = build_bim_version(version)
        tileset, base = _tileset(summary)
        assert Path(summary["tileset"]).parent.name == f"bim-{version}"
        with database.connect() as conn:
            expected[key] = {
                r[0]
                for r in conn.execute(text("SELECT global_id FROM bim_element WHERE version_id = :v"), {"v": version})
            }
        assert set(_tile_ids(summary)) == expected[key]
        files += _content_files(tileset, base)
    assert expected["bim_published"] and expected["bim_draft"]
    report = validate_gltf(files)
    assert not {f: r["messages"] for f, r in report.items() if r["errors"] or r["warnings"]}


def _assert_empty_tileset(path: Path, version: str) -> None:
    tileset = json.loads(path.read_text())
    assert tileset["asset"]["version"] == version
    assert tileset["geometricError"] == 0 and tileset["root"]["geometricError"] == 0
    assert tileset["root"]["refine"] == "ADD"
    box = tileset["root"]["boundingVolume"]["box"]
    assert len(box) == 12 and np.linalg.norm(np.array(box[3:]).reshape(3, 3), axis=1).min() > 0
    assert "content" not in tileset["root"] and not tileset["root"].get("children")


def test_a_layer_without_rows_builds_a_valid_empty_tileset_and_drops_stale_tiles(tile_rows, database):
    from tiles.build import build_bim_version

    with database.begin() as conn:
        empty = insert_bim_version(conn, "TT-empty", 1, "ingested", [])
        emptied = insert_bim_version(
            conn,
            "TT-emptied",
            1,
            "ingested",
            [("TTGONE0000000000000001", "IfcWall", _box_tin(X0 + 300, Y0, 5, (1, 1, 1)))],
        )
    summary = build_bim_version(empty, formats="both")
    assert (summary["features"], summary["tiles"], summary["bytes"]) == (0, 0, 0)
    base = Path(summary["tileset"]).parent
    _assert_empty_tileset(base / "tileset.json", "1.1")
    _assert_empty_tileset(base / "tileset-b3dm.json", "1.0")
    assert not [p for p in base.rglob("*") if p.suffix in (".glb", ".b3dm")]

    assert build_bim_version(emptied, formats="both")["tiles"] == 1
    with database.begin() as conn:
        conn.execute(text("DELETE FROM bim_element WHERE version_id = :v"), {"v": emptied})
    summary = build_bim_version(emptied, formats="both")
    assert summary["tiles"] == 0
    assert {k: v["tiles_removed"] for k, v in summary["outputs"].items()} == {"glb": 1, "b3dm": 1}
    base = Path(summary["tileset"]).parent
    _assert_empty_tileset(base / "tileset.json", "1.1")
    assert not [p for p in base.rglob("*") if p.suffix in (".glb", ".b3dm")]


@pytest.mark.parametrize("code", ["TT-B1", "TT-B2", "TT-B3"])  # a rectangle, an L (earcut), one with a courtyard
def test_building_vertices_decode_within_1mm_of_postgis(built, database, code):
    """float32 local positions + the tile transform (float64), back through pyproj to the
    store CRS: every decoded vertex is within 1 mm of a footprint vertex at the ground or roof
    height, and every such corner is drawn."""
    with database.connect() as conn:
        wkt, ground, height = conn.execute(
            text("SELECT ST_AsText(footprint), ground_h_orthometric, height_m FROM building WHERE code = :c"),
            {"c": code},
        ).one()
    xy = shapely.get_coordinates(shapely.from_wkt(wkt))
    expected = np.concatenate([np.column_stack([xy, np.full(len(xy), z)]) for z in (ground, ground + height)])
    tileset, base = _tileset(built["buildings"])
    to_store = Transformer.from_crs("EPSG:4978", "EPSG:4549+5773", always_xy=True)
    for tile, world, _ in walk_tiles(tileset["root"]):
        if "content" not in tile:
            continue
        gltf, binary = read_glb(base / tile["content"]["uri"].split("?")[0])
        ids = property_strings(gltf, binary, "id")
        if code not in ids:
            continue
        attributes = gltf["meshes"][0]["primitives"][0]["attributes"]
        fid = accessor(gltf, binary, attributes["_FEATURE_ID_0"])[:, 0].astype(int)
        positions = accessor(gltf, binary, attributes["POSITION"])[fid == ids.index(code)]
        assert positions.dtype == np.float32
        z_up = np.column_stack([positions[:, 0], -positions[:, 2], positions[:, 1]]).astype(float)
        ecef = z_up @ world[:3, :3].T + world[:3, 3]
        decoded = np.column_stack(to_store.transform(ecef[:, 0], ecef[:, 1], ecef[:, 2]))
        break
    else:
        pytest.fail(f"{code} is in no tile")
    gap = np.linalg.norm(decoded[:, None] - expected[None], axis=2)
    assert gap.min(axis=1).max() < 0.001  # every decoded vertex is a footprint corner
    assert gap.min(axis=0).max() < 0.001  # and every corner is drawn

"""Test fixtures for the tiles tests: a handful of rows with known geometry (and the bad ones the
tiler must skip), and readers for tilesets and glb that do not use the writer's code."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import trimesh
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
X0, Y0 = 495_000.0, 3_518_000.0  # store CRS (EPSG:4549), central Changzhou
PREFIX = "TT-"

# Pipe TT-P1: DN300, 1.2 m cover to its top under ground at 5.0 m, so its axis lies at 3.65 m.
P1_GROUND, P1_DEPTH, P1_DIAMETER = 5.0, 1.2, 300.0
P1_AXIS_Z = P1_GROUND - P1_DEPTH - P1_DIAMETER / 2000

BAD = {  # rows the tiler must skip (or draw with a default), by layer and reason
    "buildings": {
        "TT-BNULLH": "no height",
        "TT-BBOWTIE": "invalid or empty footprint",
        "TT-BEMPTY": "invalid or empty footprint",
    },
    "pipelines": {"TT-P0": "zero-length axis"},
}


def _polygon(*rings: list[tuple[float, float]]) -> str:
    """WKT of a polygon given rings as offsets (m) from (X0, Y0)."""
    return (
        "POLYGON("
        + ", ".join("(" + ", ".join(f"{X0 + dx} {Y0 + dy}" for dx, dy in [*ring, ring[0]]) + ")" for ring in rings)
        + ")"
    )


def _tin_wkt(mesh: trimesh.Trimesh) -> str:
    tris = mesh.vertices[mesh.faces]
    parts = ", ".join("((" + ", ".join(" ".join(f"{c:.3f}" for c in p) for p in [*t, t[0]]) + "))" for t in tris)
    return f"TIN Z ({parts})"


def _box_tin(x: float, y: float, z: float, size: tuple[float, float, float]) -> str:
    box = trimesh.creation.box(extents=size)
    box.apply_translation([x, y, z + size[2] / 2])
    return _tin_wkt(box)


def insert_bim_version(
    conn, model_name: str, version_no: int, status: str, elements: list[tuple[str, str, str]]
) -> int:
    """A BIM model version with elements (global_id, ifc_class, TIN WKT); returns its id."""
    model_id = (
        conn.execute(
            text("INSERT INTO bim_model (name) VALUES (:n) ON CONFLICT (project_code, name) DO NOTHING RETURNING id"),
            {"n": model_name},
        ).scalar()
        or conn.execute(text("SELECT id FROM bim_model WHERE name = :n"), {"n": model_name}).scalar_one()
    )
    version_id = conn.execute(
        text(
            """INSERT INTO bim_model_version (model_id, version_no, schema, file_name, file_sha256, file_bytes, georef,
                   element_count, status) VALUES (:m, :v, 'IFC4', 'test.ifc', repeat('0', 64), 1, '{}', :c, :s)
               RETURNING id"""
        ),
        {"m": model_id, "v": version_no, "c": len(elements), "s": status},
    ).scalar_one()
    for global_id, ifc_class, tin in elements:
        conn.execute(
            text(
                """INSERT INTO bim_element (version_id, global_id, ifc_class, name, properties, quantities,
                       geom_hash, geom) VALUES (:v, :g, :c, :n, '{}', '{}', md5(:t), ST_GeomFromText(:t, 4549))"""
            ),
            {"v": version_id, "g": global_id, "c": ifc_class, "n": global_id, "t": tin},
        )
    return version_id


def delete_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM bim_model WHERE name LIKE 'TT-%'"))
        conn.execute(text("DELETE FROM tunnel_compartment WHERE id LIKE 'TT-%'"))
        conn.execute(text("DELETE FROM utility_tunnel WHERE id LIKE 'TT-%'"))
        conn.execute(text("DELETE FROM pipeline WHERE id LIKE 'TT-%'"))
        conn.execute(text("DELETE FROM pipe_node WHERE id LIKE 'TT-%'"))
        conn.execute(text("DELETE FROM building WHERE code LIKE 'TT-%'"))


@pytest.fixture(scope="module")
def tile_rows(database: Engine) -> Iterator[dict]:
    """Known rows in every tiled table (ids start with TT-), removed afterwards."""
    delete_rows(database)
    x, y = X0, Y0
    with database.begin() as conn:
        buildings = [
            ("TT-B1", _polygon([(0, 0), (20, 0), (20, 12), (0, 12)]), 24.0, 5.0),
            ("TT-B2", _polygon([(40, 0), (60, 0), (60, 8), (48, 8), (48, 20), (40, 20)]), 9.5, 5.2),
            (
                "TT-B3",
                _polygon([(80, 0), (110, 0), (110, 30), (80, 30)], [(90, 10), (100, 10), (100, 20), (90, 20)]),
                15.0,
                4.8,
            ),
            ("TT-BNULLH", _polygon([(0, 50), (10, 50), (10, 60)]), None, 5.0),
            ("TT-BBOWTIE", _polygon([(0, 80), (10, 90), (10, 80), (0, 90)]), 10.0, 5.0),
            ("TT-BEMPTY", "POLYGON EMPTY", 10.0, 5.0),
        ]
        for code, wkt, height, ground in buildings:
            conn.execute(
                text(
                    """INSERT INTO building (code, height_m, ground_h_orthometric, floors_below, use, safety_grade,
                           footprint) VALUES (:c, :h, :g, 0, 'residential', 'B', ST_GeomFromText(:w, 4549))"""
                ),
                {"c": code, "h": height, "g": ground, "w": wkt},
            )
        nodes = [
            ("TT-N1", "valve", x, y - 20, P1_AXIS_Z),
            ("TT-N2", "manhole", x + 60, y - 20, P1_AXIS_Z - 0.3),
            ("TT-N3", "hydrant", x + 90, y - 5, P1_AXIS_Z - 0.3),
            ("TT-N4", "tee", x + 60, y - 60, P1_AXIS_Z - 0.5),
        ]
        for nid, kind, nx, ny, nz in nodes:
            conn.execute(
                text(
                    """INSERT INTO pipe_node (id, utility, kind, ground_h_orthometric, depth_m, is_open, geom)
                       VALUES (:i, 'water', :k, :g, :d, true, ST_SetSRID(ST_MakePoint(:x, :y, :z), 4549))"""
                ),
                {"i": nid, "k": kind, "g": P1_GROUND, "d": P1_GROUND - nz, "x": nx, "y": ny, "z": nz},
            )
        pipes = [
            (
                "TT-P1",
                "water",
                P1_DIAMETER,
                P1_DEPTH,
                "TT-N1",
                "TT-N2",
                [(x, y - 20, P1_AXIS_Z), (x + 60, y - 20, P1_AXIS_Z - 0.3)],
            ),
            (
                "TT-P2",
                "gas",
                160.0,
                1.0,
                "TT-N2",
                "TT-N4",
                [
                    (x + 60, y - 20, P1_AXIS_Z - 0.3),
                    (x + 70, y - 40, P1_AXIS_Z - 0.4),
                    (x + 60, y - 60, P1_AXIS_Z - 0.5),
                ],
            ),
            ("TT-P0", "sewer", 400.0, 2.0, "TT-N4", "TT-N4", [(x + 60, y - 60, 1.0), (x + 60, y - 60, 1.0)]),
            ("TT-PND", "telecom", None, 0.8, "TT-N1", "TT-N3", [(x, y - 20, 4.0), (x + 90, y - 5, 4.0)]),
        ]
        for pid, utility, diameter, depth, a, b, pts in pipes:
            wkt = "LINESTRING Z (" + ", ".join(f"{px} {py} {pz}" for px, py, pz in pts) + ")"
            conn.execute(
                text(
                    """INSERT INTO pipeline (id, utility, material, diameter_mm, depth_m, depth_ref, from_node, to_node,
                           status, geom) VALUES (:i, :u, 'PE', :dia, :dep, 'top', :a, :b, 'in_service',
                           ST_GeomFromText(:w, 4549))"""
                ),
                {"i": pid, "u": utility, "dia": diameter, "dep": depth, "a": a, "b": b, "w": wkt},
            )
        conn.execute(
            text(
                """INSERT INTO utility_tunnel (id, name, segment, width_m, height_m, cover_depth_m, axis)
                   VALUES ('TT-T1', '测试管廊', 'A', 6.0, 3.2, 2.5, ST_GeomFromText(:w, 4549))"""
            ),
            {"w": f"LINESTRING Z ({x - 50} {y - 100} -3, {x + 50} {y - 100} -3.2, {x + 100} {y - 150} -3.5)"},
        )
        for cid, name, utilities, offset, width in [
            ("TT-T1-C1", "电力舱", ["power"], 0.0, 2.5),
            ("TT-T1-C2", "水信舱", ["water", "telecom"], 2.5, 3.5),
        ]:
            conn.execute(
                text(
                    """INSERT INTO tunnel_compartment (id, tunnel_id, name, utilities, offset_m, width_m)
                       VALUES (:i, 'TT-T1', :n, :u, :o, :w)"""
                ),
                {"i": cid, "n": name, "u": utilities, "o": offset, "w": width},
            )
        published = insert_bim_version(
            conn,
            "TT-model",
            1,
            "published",
            [
                ("TTWALL0000000000000001", "IfcWall", _box_tin(x + 200, y, 5.0, (10, 0.3, 3))),
                ("TTSLAB0000000000000001", "IfcSlab", _box_tin(x + 200, y + 5, 5.0, (10, 10, 0.25))),
            ],
        )
        draft = insert_bim_version(
            conn,
            "TT-draft",
            1,
            "ingested",
            [("TTDRAFT000000000000001", "IfcColumn", _box_tin(x + 260, y, 5.0, (0.5, 0.5, 3)))],
        )
    yield {"bim_published": published, "bim_draft": draft}
    delete_rows(database)


def read_glb(path: Path) -> tuple[dict, bytes]:
    """(glTF JSON, binary chunk) of a glb file."""
    data = path.read_bytes()
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    assert magic == b"glTF" and version == 2 and total == len(data)
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON"
    gltf = json.loads(data[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack_from("<I4s", data, 20 + json_len)
    assert bin_type == b"BIN\0"
    return gltf, data[28 + json_len : 28 + json_len + bin_len]


COMPONENT = {5120: "i1", 5121: "u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def accessor(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    """An accessor's elements as a (count, width) array, honouring byteStride."""
    acc = gltf["accessors"][index]
    view = gltf["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(COMPONENT[acc["componentType"]])
    width = WIDTH[acc["type"]]
    stride = view.get("byteStride", dtype.itemsize * width)
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    rows = [np.frombuffer(binary, dtype, width, start + k * stride) for k in range(acc["count"])]
    return np.array(rows).reshape(acc["count"], width)


def property_strings(gltf: dict, binary: bytes, name: str) -> list[str]:
    table = gltf["extensions"]["EXT_structural_metadata"]["propertyTables"][0]
    prop = table["properties"][name]
    values_view = gltf["bufferViews"][prop["values"]]
    offsets_view = gltf["bufferViews"][prop["stringOffsets"]]
    offsets = np.frombuffer(binary, "<u4", table["count"] + 1, offsets_view.get("byteOffset", 0))
    values = binary[values_view.get("byteOffset", 0) : values_view.get("byteOffset", 0) + values_view["byteLength"]]
    return [values[offsets[k] : offsets[k + 1]].decode() for k in range(table["count"])]


def walk_tiles(tile: dict, parent_transform: np.ndarray | None = None, depth: int = 0):
    """Yield (tile, world transform 4×4, depth, parent) over a tileset's tree."""
    local = np.array(tile["transform"], float).reshape(4, 4).T if "transform" in tile else np.eye(4)
    world = local if parent_transform is None else parent_transform @ local
    yield tile, world, depth
    for child in tile.get("children", []):
        yield from walk_tiles(child, world, depth + 1)


def validate_gltf(files: list[Path]) -> dict:
    """Run Khronos' glTF-Validator (npm) on the files; the per-file report."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: gltf-validator needs it")
    result = subprocess.run(
        [node, str(ROOT / "tiles" / "validate_gltf.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(result.stdout)

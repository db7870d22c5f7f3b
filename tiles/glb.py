"""A glb (glTF 2.0 binary) writer for one tile: float32 positions local to the tile, normals as
normalized bytes (KHR_mesh_quantization), a feature id per vertex (EXT_mesh_features) and the
features' property table (EXT_structural_metadata); one primitive per material over one
interleaved vertex buffer."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiles.metadata import PropertyTable, class_schema

ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
FLOAT, BYTE, UNSIGNED_SHORT, UNSIGNED_INT = 5126, 5120, 5123, 5125
VERTEX_STRIDE = 20  # position 3×f32, normal 3×i8 + pad, feature id f32


@dataclass
class TileMesh:
    """A tile's geometry in its local frame (z up, metres) with a material per triangle."""

    positions: np.ndarray  # (v, 3) float32
    normals: np.ndarray  # (v, 3) float, unit
    feature_ids: np.ndarray  # (v,) int, index into the property table
    triangles: np.ndarray  # (t, 3) int
    triangle_material: np.ndarray  # (t,) int, index into materials


def _pad(data: bytes, align: int = 8, fill: bytes = b"\0") -> bytes:
    return data + fill * (-len(data) % align)


def _y_up(v: np.ndarray) -> np.ndarray:
    """3D Tiles rotate glTF's y-up into z-up; store (x, z, -y) so the result is (x, y, z)."""
    return np.column_stack([v[:, 0], v[:, 2], -v[:, 1]])


def encode_glb(
    mesh: TileMesh,
    materials: list[dict[str, Any]],
    class_name: str,
    table: PropertyTable,
    rows: np.ndarray,
    *,
    legacy: bool = False,
) -> bytes:
    """The glb bytes; feature ``k`` of the mesh is row ``rows[k]`` of the property table.

    ``legacy``: the glTF inside a 3D Tiles 1.0 b3dm: no extensions at all (float normals, no
    metadata), one buffer view per attribute (readers such as py3dtiles' ignore byteStride),
    the feature index in a float ``_BATCHID`` attribute (glTF allows no UNSIGNED_INT vertex
    attribute) and the properties left to the b3dm's batch table.
    """
    v = len(mesh.positions)
    positions = _y_up(mesh.positions).astype("<f4")
    index_type, index_dtype = (UNSIGNED_SHORT, "<u2") if v < 65535 else (UNSIGNED_INT, "<u4")

    chunks: list[bytes] = []
    views: list[dict[str, Any]] = []

    def add_view(data: bytes, **extra: Any) -> int:
        offset = sum(len(c) for c in chunks)
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data), **extra})
        chunks.append(_pad(data))
        return len(views) - 1

    bounds = {
        "min": [float(positions[:, k].min()) for k in range(3)],
        "max": [float(positions[:, k].max()) for k in range(3)],
    }
    if legacy:
        views_of = [
            add_view(a.tobytes(), target=ARRAY_BUFFER)
            for a in (positions, _y_up(mesh.normals).astype("<f4"), mesh.feature_ids.astype("<f4"))
        ]
        accessors: list[dict[str, Any]] = [
            {"bufferView": views_of[0], "componentType": FLOAT, "count": v, "type": "VEC3", **bounds},
            {"bufferView": views_of[1], "componentType": FLOAT, "count": v, "type": "VEC3"},
            {"bufferView": views_of[2], "componentType": FLOAT, "count": v, "type": "SCALAR"},
        ]
    else:
        vertices = np.zeros(v, dtype=[("p", "<f4", 3), ("n", "i1", 4), ("f", "<f4")])
        vertices["p"] = positions
        vertices["n"][:, :3] = np.round(np.clip(_y_up(mesh.normals), -1, 1) * 127)
        vertices["f"] = mesh.feature_ids
        vertex_view = add_view(vertices.tobytes(), byteStride=VERTEX_STRIDE, target=ARRAY_BUFFER)
        accessors = [
            {"bufferView": vertex_view, "byteOffset": 0, "componentType": FLOAT, "count": v, "type": "VEC3", **bounds},
            {
                "bufferView": vertex_view,
                "byteOffset": 12,
                "componentType": BYTE,
                "normalized": True,
                "count": v,
                "type": "VEC3",
            },
            {"bufferView": vertex_view, "byteOffset": 16, "componentType": FLOAT, "count": v, "type": "SCALAR"},
        ]
    feature_count = len(rows)
    primitives = []
    order = np.argsort(mesh.triangle_material, kind="stable")
    sorted_materials = mesh.triangle_material[order]
    index_bytes = mesh.triangles[order].astype(index_dtype).tobytes()
    index_view = add_view(index_bytes, target=ELEMENT_ARRAY_BUFFER)
    item = np.dtype(index_dtype).itemsize * 3
    used = np.unique(sorted_materials)  # only the materials the tile's triangles use are written
    for slot, material in enumerate(used):
        lo, hi = np.searchsorted(sorted_materials, [material, material + 1])
        accessors.append(
            {
                "bufferView": index_view,
                "byteOffset": int(lo) * item,
                "componentType": index_type,
                "count": int(hi - lo) * 3,
                "type": "SCALAR",
            }
        )
        primitive: dict[str, Any] = {
            "attributes": {"POSITION": 0, "NORMAL": 1, "_BATCHID" if legacy else "_FEATURE_ID_0": 2},
            "indices": len(accessors) - 1,
            "material": slot,
            "mode": 4,
        }
        if not legacy:
            ids = {"featureCount": feature_count, "attribute": 0, "propertyTable": 0}
            primitive["extensions"] = {"EXT_mesh_features": {"featureIds": [ids]}}
        primitives.append(primitive)
    properties: dict[str, Any] = {}
    text_view = None  # a string column whose strings are all empty points at another's bytes
    for column in [] if legacy else table.columns:
        values, *offsets = table.buffers(column, rows)
        if values or column.type != "STRING":
            entry: dict[str, Any] = {"values": add_view(values)}
            text_view = entry["values"] if column.type == "STRING" and text_view is None else text_view
        else:
            entry = {"values": text_view if text_view is not None else add_view(b" ")}
        if column.type == "STRING":
            entry |= {"stringOffsets": add_view(offsets[0]), "stringOffsetType": "UINT32"}
        properties[column.name] = entry
    binary = b"".join(chunks)
    gltf: dict[str, Any] = {"asset": {"version": "2.0", "generator": "cim-server tiles"}}
    if not legacy:
        gltf |= {
            "extensionsUsed": ["EXT_mesh_features", "EXT_structural_metadata", "KHR_mesh_quantization"],
            "extensionsRequired": ["KHR_mesh_quantization"],
            "extensions": {
                "EXT_structural_metadata": {
                    "schema": class_schema(class_name, table.columns),
                    "propertyTables": [{"class": class_name, "count": feature_count, "properties": properties}],
                }
            },
        }
    gltf |= {
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": primitives}],
        "materials": [materials[int(m)] for m in used],
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(binary)}],
    }
    json_chunk = _pad(json.dumps(gltf, separators=(",", ":"), ensure_ascii=False).encode(), 4, b" ")
    if legacy and len(json_chunk) % 8 != 4:  # a b3dm's glb must end on an 8-byte boundary
        json_chunk += b"    "
    total = 12 + 8 + len(json_chunk) + 8 + len(binary)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(json_chunk), b"JSON"),
            json_chunk,
            struct.pack("<I4s", len(binary), b"BIN\0"),
            binary,
        ]
    )


def encode_b3dm(
    mesh: TileMesh, materials: list[dict[str, Any]], class_name: str, table: PropertyTable, rows: np.ndarray
) -> bytes:
    """A 3D Tiles 1.0 batched 3D model (b3dm) for legacy clients, with py3dtiles' header,
    feature table and batch table around our glTF.

    Works around two py3dtiles shortcomings: ``B3dm.from_meshes`` leaves the feature table's
    BATCH_LENGTH unset (set here to the number of features), and its ``_BATCHID`` is UINT32,
    which glTF forbids for vertex attributes (our glTF carries it as FLOAT). The glTF bytes go
    in as they are (what ``B3dm.sync``/``to_array`` do, without a pygltflib round trip, which
    took 20 times longer than writing the glb). The batch table holds every property column
    as JSON (``id`` first), NULL as null.
    """
    from py3dtiles.tileset.content.b3dm import B3dmHeader
    from py3dtiles.tileset.content.b3dm_feature_table import B3dmFeatureTable
    from py3dtiles.tileset.content.batch_table import BatchTable

    glb = encode_glb(mesh, materials, class_name, table, rows, legacy=True)
    feature_table = B3dmFeatureTable()
    feature_table.set_batch_length(len(rows))
    batch_table = BatchTable()
    for column in table.columns:
        batch_table.add_property_as_json(column.name, table.json_values(column, rows))
    ft, bt = feature_table.to_array(), batch_table.to_array()
    header = B3dmHeader()
    header.ft_json_byte_length, header.ft_bin_byte_length = len(ft), 0
    header.bt_json_byte_length, header.bt_bin_byte_length = len(bt), 0
    header.tile_byte_length = B3dmHeader.BYTE_LENGTH + len(ft) + len(bt) + len(glb)
    return b"".join([header.to_array().tobytes(), ft.tobytes(), bt.tobytes(), glb])


def material(name: str, rgba: tuple[float, float, float, float]) -> dict[str, Any]:
    """A plain PBR material (no metal, rough) of one colour; translucent when alpha < 1."""
    out: dict[str, Any] = {
        "name": name,
        "pbrMetallicRoughness": {"baseColorFactor": list(rgba), "metallicFactor": 0.0, "roughnessFactor": 0.85},
    }
    if rgba[3] < 1:
        out["alphaMode"] = "BLEND"
    return out

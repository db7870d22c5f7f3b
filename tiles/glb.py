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
) -> bytes:
    """The glb bytes; feature ``k`` of the mesh is row ``rows[k]`` of the property table."""
    v = len(mesh.positions)
    positions = _y_up(mesh.positions).astype("<f4")
    vertices = np.zeros(v, dtype=[("p", "<f4", 3), ("n", "i1", 4), ("f", "<f4")])
    vertices["p"] = positions
    vertices["n"][:, :3] = np.round(np.clip(_y_up(mesh.normals), -1, 1) * 127)
    vertices["f"] = mesh.feature_ids
    index_type, index_dtype = (UNSIGNED_SHORT, "<u2") if v < 65535 else (UNSIGNED_INT, "<u4")

    chunks: list[bytes] = []
    views: list[dict[str, Any]] = []

    def add_view(data: bytes, **extra: Any) -> int:
        offset = sum(len(c) for c in chunks)
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data), **extra})
        chunks.append(_pad(data))
        return len(views) - 1

    vertex_view = add_view(vertices.tobytes(), byteStride=VERTEX_STRIDE, target=ARRAY_BUFFER)
    accessors: list[dict[str, Any]] = [
        {
            "bufferView": vertex_view,
            "byteOffset": 0,
            "componentType": FLOAT,
            "count": v,
            "type": "VEC3",
            "min": positions.min(axis=0).tolist(),
            "max": positions.max(axis=0).tolist(),
        },
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
    for material in np.unique(sorted_materials):
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
        primitives.append(
            {
                "attributes": {"POSITION": 0, "NORMAL": 1, "_FEATURE_ID_0": 2},
                "indices": len(accessors) - 1,
                "material": int(material),
                "mode": 4,
                "extensions": {
                    "EXT_mesh_features": {
                        "featureIds": [{"featureCount": feature_count, "attribute": 0, "propertyTable": 0}]
                    }
                },
            }
        )
    properties: dict[str, Any] = {}
    for column in table.columns:
        buffers = table.buffers(column, rows)
        if not buffers:
            continue
        entry: dict[str, Any] = {"values": add_view(buffers[0])}
        if column.type == "STRING":
            entry |= {"stringOffsets": add_view(buffers[1]), "stringOffsetType": "UINT32"}
        properties[column.name] = entry
    binary = b"".join(chunks)
    gltf = {
        "asset": {"version": "2.0", "generator": "cim-server tiles"},
        "extensionsUsed": ["EXT_mesh_features", "EXT_structural_metadata", "KHR_mesh_quantization"],
        "extensionsRequired": ["KHR_mesh_quantization"],
        "extensions": {
            "EXT_structural_metadata": {
                "schema": class_schema(class_name, table.columns),
                "propertyTables": [{"class": class_name, "count": feature_count, "properties": properties}],
            }
        },
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": primitives}],
        "materials": materials,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": len(binary)}],
    }
    json_chunk = _pad(json.dumps(gltf, separators=(",", ":"), ensure_ascii=False).encode(), 4, b" ")
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


def material(name: str, rgba: tuple[float, float, float, float]) -> dict[str, Any]:
    """A plain PBR material (no metal, rough) of one colour; translucent when alpha < 1."""
    out: dict[str, Any] = {
        "name": name,
        "pbrMetallicRoughness": {"baseColorFactor": list(rgba), "metallicFactor": 0.0, "roughnessFactor": 0.85},
    }
    if rgba[3] < 1:
        out["alphaMode"] = "BLEND"
    return out

"""Build a layer's 3D Tiles 1.1 tileset from PostGIS: read, check, split, write only the tiles
whose features changed.

Each leaf's input (ids, WKB, key fields) is hashed; ``manifest.json`` beside ``tileset.json``
keeps every leaf's hash, ids and bounds, so a rebuild meshes and writes only leaves with a new
hash and deletes the ones that vanished; the tileset JSON is always rewritten.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from gis.crs import store_to_ecef
from spatial_api.db import get_engine
from spatial_api.errors import NotFound
from spatial_api.settings import get_settings
from tiles import sources, tree
from tiles.frames import Frame, box_corners, enclosing_box, to_ecef
from tiles.glb import TileMesh, encode_glb
from tiles.metadata import class_schema

GENERATOR = "cim-server tiles 1"  # part of every leaf hash: change it when the output format changes
MAX_TILE_BYTES = 700_000
MAX_TILE_FEATURES = 6000
MIN_CELL_M = 16.0
CONTENT_DIR = "t"
WORKERS = min(os.cpu_count() or 1, 4)  # leaves are meshed in forked processes when there are several

_forked: tuple[sources.Layer, sources.Features, Path] | None = None  # what forked workers read

Progress = Callable[[str, float], None]


def layer_dir(layer: str) -> Path:
    return get_settings().tiles_dir / layer


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _leaf_hash(features: sources.Features, idx: np.ndarray) -> tuple[str, list[str]]:
    """Hash of everything a leaf is made of (rows come in key order, so the hash is stable)."""
    batch, rows = features.batch, features.keep[idx]
    digest = hashlib.sha256(GENERATOR.encode())
    digest.update(b"".join(batch.wkb[rows]))
    for column in batch.columns:
        for buffer in batch.table.buffers(column, rows):
            digest.update(buffer)
    return digest.hexdigest(), [str(batch.values["id"][r]) for r in rows]


def _write_leaf(layer: sources.Layer, features: sources.Features, idx: np.ndarray, path: Path) -> dict[str, Any]:
    """Mesh the leaf's features, write its glb; return its frame and bounds for the manifest."""
    mesh = features.mesh(idx)
    ecef = to_ecef(mesh.points)
    frame = Frame.at(ecef)
    local_points = frame.local(ecef).astype(np.float32)
    positions = local_points[mesh.corner_point]
    centre_store = (mesh.points.min(axis=0) + mesh.points.max(axis=0)) / 2
    normals = mesh.corner_normal @ frame.normal_matrix(centre_store)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    p = positions[mesh.triangles].astype(np.float64)
    area2 = np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    triangles = mesh.triangles[area2 > 1e-8]
    tile_mesh = TileMesh(
        positions, normals, mesh.corner_feature, triangles, features.group[idx][mesh.corner_feature[triangles[:, 0]]]
    )
    data = encode_glb(tile_mesh, layer.materials, layer.class_name, features.batch.table, features.keep[idx])
    _write_atomic(path, data)
    lo, hi = positions.min(axis=0).astype(np.float64), positions.max(axis=0).astype(np.float64)
    return {"transform": frame.matrix(), "min": lo.tolist(), "max": hi.tolist(), "bytes": len(data)}


def _write_forked(job: tuple[str, np.ndarray]) -> tuple[str, dict[str, Any]]:
    spec, features, out = _forked
    key, idx = job
    return key, _write_leaf(spec, features, idx, out / CONTENT_DIR / f"{key}.glb")


def _write_leaves(
    spec: sources.Layer, features: sources.Features, out: Path, jobs: list[tuple[str, np.ndarray]], report: Progress
) -> dict[str, dict[str, Any]]:
    """Mesh and write leaves, in forked worker processes when there are enough of them."""
    global _forked
    done: dict[str, dict[str, Any]] = {}
    if WORKERS > 1 and len(jobs) >= 2 * WORKERS:
        store_to_ecef().transform(0.0, 0.0, 0.0)  # make the transformer once, before forking
        _forked = (spec, features, out)
        try:
            with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
                for key, entry in pool.imap_unordered(_write_forked, jobs):
                    done[key] = entry
                    report("writing tiles", 100 * len(done) / len(jobs))
        finally:
            _forked = None
        return done
    for key, idx in jobs:
        done[key] = _write_leaf(spec, features, idx, out / CONTENT_DIR / f"{key}.glb")
        report("writing tiles", 100 * len(done) / len(jobs))
    return done


def _leaf_corners(entry: dict[str, Any]) -> np.ndarray:
    m = np.array(entry["transform"]).reshape(4, 4).T
    lo, hi = np.array(entry["min"]), np.array(entry["max"])
    local = box_corners((lo + hi) / 2, (hi - lo) / 2)
    return local @ m[:3, :3].T + m[:3, 3]


def _local_box(entry: dict[str, Any]) -> list[float]:
    lo, hi = np.array(entry["min"]), np.array(entry["max"])
    half = np.maximum((hi - lo) / 2, 1e-3)
    c = (lo + hi) / 2
    return [float(c[0]), float(c[1]), float(c[2]), float(half[0]), 0, 0, 0, float(half[1]), 0, 0, 0, float(half[2])]


def _tile_json(node: tree.Node, leaves: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], np.ndarray]:
    """The tile of a node and the ECEF corners of its bounding box (a parent's box is fitted
    around its children's box corners, so it contains them)."""
    if node.features is not None:
        entry = leaves[node.key]
        tile = {
            "boundingVolume": {"box": _local_box(entry)},
            "geometricError": 0.0,
            "transform": entry["transform"],
            "content": {"uri": f"{CONTENT_DIR}/{node.key}.glb?v={entry['hash'][:12]}"},
        }
        return tile, _leaf_corners(entry)
    children = [_tile_json(child, leaves) for child in node.children]
    box = enclosing_box(np.concatenate([c for _, c in children]))
    tile = {"boundingVolume": {"box": box}, "geometricError": node.size / 8, "children": [t for t, _ in children]}
    centre, axes = np.array(box[:3]), np.array(box[3:]).reshape(3, 3)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    return tile, centre + signs @ axes


def _empty_tileset(class_name: str, columns) -> dict[str, Any]:
    return {
        "asset": {"version": "1.1", "generator": GENERATOR},
        "schema": class_schema(class_name, columns),
        "geometricError": 0.0,
        "root": {
            "boundingVolume": {"box": [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]},
            "geometricError": 0.0,
            "refine": "ADD",
        },
    }


def _check_version(layer: str) -> None:
    if layer.startswith("bim-"):
        with get_engine().connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM bim_model_version WHERE id = :id"), {"id": int(layer[4:])}
            ).scalar()
        if not found:
            raise NotFound(f"BIM model version {layer[4:]} does not exist: list versions at /api/v1/bim/models")


def build_layer(layer: str, progress: Progress | None = None) -> dict[str, Any]:
    """Build (or update) ``tiles_dir/<layer>/tileset.json`` and its glb tiles; return a summary."""
    report = progress or (lambda stage, percent: None)
    started = time.perf_counter()
    spec = sources.layer(layer)
    _check_version(layer)
    report("reading", 0)
    batch = sources.read(spec.sql, spec.params)
    features = spec.prepare(batch)
    out = layer_dir(layer)
    (out / CONTENT_DIR).mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if old.get("generator") != GENERATOR:
        old = {}
    root = tree.build(features.xy, features.weight, MAX_TILE_FEATURES, MAX_TILE_BYTES, MIN_CELL_M)
    leaves_out: dict[str, dict[str, Any]] = {}
    to_write: list[tuple[str, np.ndarray]] = []
    for leaf in root.leaves() if root else []:
        digest, ids = _leaf_hash(features, leaf.features)
        previous = old.get("leaves", {}).get(leaf.key)
        if previous and previous["hash"] == digest and (out / CONTENT_DIR / f"{leaf.key}.glb").exists():
            leaves_out[leaf.key] = previous
        else:
            leaves_out[leaf.key] = {"hash": digest, "ids": ids}
            to_write.append((leaf.key, leaf.features))
    for key, entry in _write_leaves(spec, features, out, to_write, report).items():
        leaves_out[key] |= entry
    written, reused = len(to_write), len(leaves_out) - len(to_write)
    removed = 0
    for key in set(old.get("leaves", {})) - set(leaves_out):
        (out / CONTENT_DIR / f"{key}.glb").unlink(missing_ok=True)
        removed += 1
    if root is None:
        tileset = _empty_tileset(spec.class_name, batch.columns)
    else:
        root_tile, _ = _tile_json(root, leaves_out)
        root_tile["refine"] = "ADD"
        tileset = {
            "asset": {"version": "1.1", "generator": GENERATOR},
            "schema": class_schema(spec.class_name, batch.columns),
            "geometricError": max(root.size / 4, 1.0),
            "root": root_tile,
        }
    _write_atomic(manifest_path, json.dumps({"generator": GENERATOR, "leaves": leaves_out}).encode())
    _write_atomic(out / "tileset.json", json.dumps(tileset, ensure_ascii=False).encode())
    seconds = time.perf_counter() - started
    count = len(features.keep)
    return {
        "layer": layer,
        "features": count,
        "skipped": dict(features.warnings),
        "tiles": len(leaves_out),
        "tiles_written": written,
        "tiles_reused": reused,
        "tiles_removed": removed,
        "bytes": sum(e["bytes"] for e in leaves_out.values()),
        "seconds": round(seconds, 3),
        "features_per_s": round(count / seconds, 1) if seconds > 0 else None,
        "tileset": str(out / "tileset.json"),
    }


def build_bim_version(version_id: int) -> dict[str, Any]:
    """The tileset of one BIM model version: ``tiles_dir/bim-<version_id>/tileset.json``."""
    return build_layer(f"bim-{int(version_id)}")

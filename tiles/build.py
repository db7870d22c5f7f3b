"""Build a layer's 3D Tiles 1.1 tileset from PostGIS: read, check, split, write only the tiles
whose features changed.

Each leaf's input (ids, WKB, key fields) is hashed; ``manifest.json`` beside ``tileset.json``
keeps every leaf's hash, ids and bounds, so a rebuild meshes and writes only leaves with a new
hash and deletes the ones that vanished; the tileset JSON is always rewritten.

Formats: ``glb`` (3D Tiles 1.1: ``tileset.json`` over ``t/*.glb`` with EXT_mesh_features and
EXT_structural_metadata) and ``b3dm`` (3D Tiles 1.0 for legacy clients: ``tileset-b3dm.json``
over ``b3dm/*.b3dm``, same tree, bounding volumes and transforms, the properties in each tile's
batch table); each keeps its own manifest, and a leaf is meshed once for both.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from core import holds
from core.db import get_engine
from core.errors import NotFound, UserError
from core.settings import get_settings
from gis.crs import store_to_ecef
from tiles import sources, tree
from tiles.frames import Frame, bounds, box_corners, enclosing_box, to_ecef
from tiles.glb import TileMesh, encode_b3dm, encode_glb
from tiles.metadata import class_schema

GENERATOR = "cim-server tiles 2"  # part of every leaf hash: change it when the output format changes
MAX_TILE_BYTES = 700_000
MAX_TILE_FEATURES = 6000
MIN_CELL_M = 16.0
CONTENT_DIR = "t"
WORKERS = min(os.cpu_count() or 1, 4)  # leaves are meshed in forked processes when there are several cores


@dataclass(frozen=True)
class Output:
    """One tileset format written beside the others in a layer's directory."""

    name: str
    version: str  # 3D Tiles version
    tileset: str
    manifest: str
    content_dir: str
    suffix: str


OUTPUTS = {
    "glb": Output("glb", "1.1", "tileset.json", "manifest.json", CONTENT_DIR, ".glb"),
    "b3dm": Output("b3dm", "1.0", "tileset-b3dm.json", "manifest-b3dm.json", "b3dm", ".b3dm"),
}

_forked: tuple[sources.Layer, sources.Features, Path] | None = None  # what forked workers read

Progress = Callable[[str, float], None]
# leaf key, feature indices, {format: the hash its manifest holds for the leaf, or None}
Job = tuple[str, np.ndarray, dict[str, str | None]]


def layer_dir(layer: str) -> Path:
    return get_settings().tiles_dir / layer


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _leaf_digest(features: sources.Features, idx: np.ndarray) -> tuple[str, list[str]]:
    """Hash of everything a leaf is made of (rows come in key order, so the hash is stable)."""
    batch, rows = features.batch, features.keep[idx]
    digest = hashlib.sha256(GENERATOR.encode())
    digest.update(b"".join(batch.wkb[rows]))
    for column in batch.columns:
        for buffer in batch.table.buffers(column, rows):
            digest.update(buffer)
    return digest.hexdigest(), [str(batch.values["id"][r]) for r in rows]


B3DM_REVISION = 1  # part of the b3dm leaf hashes: change it when the b3dm output changes


def _format_hash(digest: str, output: Output) -> str:
    if output.name == "glb":
        return digest
    return hashlib.sha256(f"{output.name} {B3DM_REVISION} {digest}".encode()).hexdigest()


def _content_path(out: Path, output: Output, key: str) -> Path:
    return out / output.content_dir / f"{key}{output.suffix}"


def _write_leaf(
    layer: sources.Layer, features: sources.Features, idx: np.ndarray, out: Path, key: str, formats: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Mesh the leaf's features once, write its content in each format; return, per format,
    its frame, bounds and size for the manifest."""
    mesh = features.mesh(idx)
    ecef = to_ecef(mesh.points)
    frame = Frame.at(ecef)
    local_points = frame.local(ecef).astype(np.float32)
    positions = local_points[mesh.corner_point]
    low, high = bounds(mesh.points)
    centre_store = (low + high) / 2
    normals = mesh.corner_normal @ frame.normal_matrix(centre_store)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    p = positions[mesh.triangles].astype(np.float64)
    area2 = np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)
    triangles = mesh.triangles[area2 > 1e-8]
    tile_mesh = TileMesh(
        positions, normals, mesh.corner_feature, triangles, features.group[idx][mesh.corner_feature[triangles[:, 0]]]
    )
    lo, hi = (b.astype(np.float64) for b in bounds(positions))
    done = {}
    for name in formats:
        encode = encode_b3dm if name == "b3dm" else encode_glb
        data = encode(tile_mesh, layer.materials, layer.class_name, features.batch.table, features.keep[idx])
        _write_atomic(_content_path(out, OUTPUTS[name], key), data)
        done[name] = {"transform": frame.matrix(), "min": lo.tolist(), "max": hi.tolist(), "bytes": len(data)}
    return done


def _update_leaf(
    spec: sources.Layer, features: sources.Features, out: Path, job: Job
) -> tuple[str, dict[str, dict[str, Any] | None]]:
    """Hash a leaf's input; mesh and write it in the formats whose hash changed (or whose file
    is missing). Per format: the new manifest entry, or None where the old one stands."""
    key, idx, previous = job
    digest, ids = _leaf_digest(features, idx)
    result: dict[str, dict[str, Any] | None] = {}
    for name, old_hash in previous.items():
        leaf_hash = _format_hash(digest, OUTPUTS[name])
        fresh = old_hash == leaf_hash and _content_path(out, OUTPUTS[name], key).exists()
        result[name] = None if fresh else {"hash": leaf_hash, "ids": ids}
    stale = tuple(name for name, entry in result.items() if entry is not None)
    if stale:
        for name, entry in _write_leaf(spec, features, idx, out, key, stale).items():
            result[name] = (result[name] or {}) | entry
    return key, result


def _update_forked(job: Job) -> tuple[str, dict[str, dict[str, Any] | None]]:
    assert _forked is not None, "set by _update_leaves before the pool forks"
    spec, features, out = _forked
    return _update_leaf(spec, features, out, job)


def _update_leaves(
    spec: sources.Layer, features: sources.Features, out: Path, jobs: list[Job], report: Progress
) -> dict[str, dict[str, dict[str, Any] | None]]:
    """Hash, and where changed mesh and write, every leaf: in forked worker processes (which
    share the features copy-on-write) when there are enough leaves and this process runs no other
    thread. A fork copies only the calling thread: a lock another thread holds at that moment (a queue
    worker's job runs beside its event loop) stays held in the child, which then waits for ever (seen:
    a tiling job hung in a queue worker), so a process with threads meshes its leaves itself."""
    global _forked
    done: dict[str, dict[str, dict[str, Any] | None]] = {}
    if WORKERS > 1 and len(jobs) >= 2 * WORKERS and threading.active_count() == 1:
        # PROJ searched once and its pipeline cached: each forked process re-makes the transformer in 0.5 ms
        store_to_ecef().transform(0.0, 0.0, 0.0)
        _ = features.batch.table, features.batch.wkb  # and the encoded columns
        _forked = (spec, features, out)
        try:
            with multiprocessing.get_context("fork").Pool(WORKERS) as pool:
                for key, entry in pool.imap_unordered(_update_forked, jobs):
                    done[key] = entry
                    report("writing tiles", 100 * len(done) / len(jobs))
        finally:
            _forked = None
        return done
    for job in jobs:
        key, entry = _update_leaf(spec, features, out, job)
        done[key] = entry
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


def _tile_json(node: tree.Node, leaves: dict[str, dict[str, Any]], output: Output) -> tuple[dict[str, Any], np.ndarray]:
    """The tile of a node and the ECEF corners of its bounding box (a parent's box is fitted
    around its children's box corners, so it contains them)."""
    if node.features is not None:
        entry = leaves[node.key]
        tile = {
            "boundingVolume": {"box": _local_box(entry)},
            "geometricError": 0.0,
            "transform": entry["transform"],
            "content": {"uri": f"{output.content_dir}/{node.key}{output.suffix}?v={entry['hash'][:12]}"},
        }
        return tile, _leaf_corners(entry)
    children = [_tile_json(child, leaves, output) for child in node.children]
    box = enclosing_box(np.concatenate([c for _, c in children]))
    tile = {"boundingVolume": {"box": box}, "geometricError": node.size / 8, "children": [t for t, _ in children]}
    centre, axes = np.array(box[:3]), np.array(box[3:]).reshape(3, 3)
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    return tile, centre + signs @ axes


def _tileset(output: Output, class_name: str, columns, root: tree.Node | None, leaves: dict[str, dict[str, Any]]):
    """The tileset JSON; with no features a valid empty one (a root without content)."""
    asset = {"asset": {"version": output.version, "generator": GENERATOR}}
    if output.version != "1.0":
        asset["schema"] = class_schema(class_name, columns)
    if root is None:
        empty_box = {"box": [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]}
        return asset | {
            "geometricError": 0.0,
            "root": {"boundingVolume": empty_box, "geometricError": 0.0, "refine": "ADD"},
        }
    root_tile, _ = _tile_json(root, leaves, output)
    root_tile["refine"] = "ADD"
    return asset | {"geometricError": max(root.size / 4, 1.0), "root": root_tile}


def _check_version(layer: str) -> None:
    if sources.VERSION_NAME.match(layer):
        with get_engine().connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM bim_model_version WHERE id = :id"), {"id": int(layer[4:])}
            ).scalar()
        if not found:
            raise NotFound(f"BIM model version {layer[4:]} does not exist: list versions at /api/v1/bim/models")


def _formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    names = (formats,) if isinstance(formats, str) else tuple(formats)
    names = tuple(dict.fromkeys(n for f in names for n in (("glb", "b3dm") if f == "both" else (f,))))
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown or not names:
        raise UserError(f"unknown tile format {', '.join(unknown) or '(none)'}: use glb, b3dm or both")
    return names


@dataclass
class Plan:
    """A layer read and split into leaves: what meshing its leaves needs (``jobs``), and the rest of
    what writing its tileset needs (``tileset``)."""

    spec: sources.Layer
    features: sources.Features
    out: Path
    jobs: list[Job]
    tileset: Tileset


@dataclass
class Tileset:
    """What writing a layer's tileset and manifests needs besides the leaves' new entries (it pickles:
    the last part of a build fanned out writes it in another process)."""

    layer: str
    names: tuple[str, ...]
    class_name: str
    columns: list[Any]
    root: tree.Node | None
    old_leaves: dict[str, dict[str, Any]]  # format → the old manifest's leaves
    keys: list[str]  # the leaves in tree order
    features: int
    skipped: dict[str, int]
    started: float  # time.time() of the start of the build


def plan(layer: str, formats: str | Sequence[str] = "glb", report: Progress | None = None) -> Plan:
    """Read a layer, check its rows and split them into the quadtree's leaves, each with the hash its
    manifest holds in each format."""
    started = time.time()
    names = _formats(formats)
    spec = sources.layer(layer)
    _check_version(layer)
    (report or (lambda stage, percent: None))("reading", 0)
    batch = sources.read(spec)
    features = spec.features(batch)
    out = layer_dir(layer)
    old_leaves: dict[str, dict[str, Any]] = {}
    for name in names:
        output = OUTPUTS[name]
        (out / output.content_dir).mkdir(parents=True, exist_ok=True)
        manifest_path = out / output.manifest
        old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        old_leaves[name] = old.get("leaves", {}) if old.get("generator") == GENERATOR else {}
    root = tree.build(features.xy, features.weight, MAX_TILE_FEATURES, MAX_TILE_BYTES, MIN_CELL_M)
    jobs: list[Job] = [
        (leaf.key, leaf.features, {name: old_leaves[name].get(leaf.key, {}).get("hash") for name in names})
        for leaf in (root.leaves() if root else [])
        if leaf.features is not None
    ]
    tileset = Tileset(
        layer, names, spec.class_name, spec.columns, root, old_leaves, [key for key, _, _ in jobs],
        len(features.keep), dict(features.warnings), started,
    )  # fmt: skip
    return Plan(spec, features, out, jobs, tileset)


def write_tileset(plan: Tileset, updated: dict[str, dict[str, dict[str, Any] | None]]) -> dict[str, Any]:
    """Write the manifests and tileset JSON of a layer whose leaves were hashed and written (``updated``:
    per leaf and format, the new manifest entry or None where the old one stands), delete the leaves
    that vanished; return the summary of the first format, with every format's under ``outputs``."""
    out = layer_dir(plan.layer)
    summaries = {}
    for name in plan.names:
        output, old = OUTPUTS[name], plan.old_leaves[name]
        leaves = {key: updated[key][name] or old[key] for key in plan.keys}  # in tree order: stable manifests
        written = sum(entries[name] is not None for entries in updated.values())
        removed = 0
        for key in set(old) - set(leaves):
            _content_path(out, output, key).unlink(missing_ok=True)
            removed += 1
        tileset = _tileset(output, plan.class_name, plan.columns, plan.root, leaves)
        _write_atomic(out / output.manifest, json.dumps({"generator": GENERATOR, "leaves": leaves}).encode())
        _write_atomic(out / output.tileset, json.dumps(tileset, ensure_ascii=False).encode())
        summaries[name] = {
            "tiles": len(leaves),
            "tiles_written": written,
            "tiles_reused": len(leaves) - written,
            "tiles_removed": removed,
            "bytes": sum(e["bytes"] for e in leaves.values()),
            "tileset": str(out / output.tileset),
        }
    seconds = time.time() - plan.started
    first = summaries[plan.names[0]]
    return {
        "layer": plan.layer,
        "format": plan.names[0],
        "features": plan.features,
        "skipped": plan.skipped,
        **{k: v for k, v in first.items() if k != "tileset"},
        "seconds": round(seconds, 3),
        "features_per_s": round(plan.features / seconds, 1) if seconds > 0 else None,
        "tileset": first["tileset"],
        "outputs": summaries,
    }


def holding(layer: str, progress: Progress | None = None, job_id: str | None = None) -> AbstractContextManager[None]:
    """The layer held against its other builds, queued (``tiles.build`` jobs, the layer their serial key)
    or not, from before a build reads until it has written (see core.holds); ``job_id``: the queued
    build this is. The stage says what it waits for."""
    return holds.hold(f"tiles.build:{layer}", f"the build of {layer}", progress, job_id)


def build_layer(layer: str, progress: Progress | None = None, formats: str | Sequence[str] = "glb") -> dict[str, Any]:
    """Build (or update) ``tiles_dir/<layer>/tileset.json`` and its glb tiles (``formats``
    ``b3dm`` or ``both``: also/instead ``tileset-b3dm.json`` over b3dm tiles) in this process, once
    the layer's other builds, queued or not, are done; return a summary of the first format, with
    every format's under ``outputs``."""
    report = progress or (lambda stage, percent: None)
    with holding(layer, report):
        layer_plan = plan(layer, formats, report)
        updated = _update_leaves(layer_plan.spec, layer_plan.features, layer_plan.out, layer_plan.jobs, report)
        return write_tileset(layer_plan.tileset, updated)


def build_bim_version(version_id: int, formats: str | Sequence[str] = "glb") -> dict[str, Any]:
    """The tileset of one BIM model version: ``tiles_dir/bim-<version_id>/tileset.json``."""
    return build_layer(f"bim-{int(version_id)}", formats=formats)

"""A layer's tileset built by parts, which queue workers on any host run (they share the database
and ``CIM_DATA_DIR``): the layer's job reads the layer and splits it into the quadtree's leaves as
:func:`tiles.build.build_layer` does, writes each part's rows (a run of whole subtrees of about
``tiles_part_features`` features) under ``<layer>/.parts/<job id>/`` and hands the job on to one
``tiles.part`` job per part. A part meshes and writes its changed leaves (atomically, so a part lost
with its worker is run again), and the last part to be done writes the tileset JSON and manifests
and finishes the layer's job. A layer of fewer than twice ``tiles_part_features`` is built by its
job alone, as before.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from core import jobs
from core.errors import UserError
from core.settings import get_settings
from tiles import sources, tree
from tiles.build import Job, Tileset, _update_leaves, _write_atomic, holding, layer_dir, plan, write_tileset

PARTS_DIR = ".parts"
TILESET = "tileset.pickle"


def _folder(layer: str, job_id: str) -> Path:
    return layer_dir(layer) / PARTS_DIR / job_id


def _size(leaf: tree.Node) -> int:
    return 0 if leaf.features is None else len(leaf.features)


def _clear_stale(layer: str) -> None:
    """The parts' folders of this layer's builds that ended without removing theirs (a failed part)."""
    for folder in (layer_dir(layer) / PARTS_DIR).glob("*"):
        try:
            status = jobs.find(folder.name).status
        except UserError:  # not a job (any longer)
            status = None
        if status != "running":
            shutil.rmtree(folder, ignore_errors=True)


def subtrees(root: tree.Node, size: int) -> list[list[tree.Node]]:
    """The leaves in tree order, in runs of whole subtrees of at most ``size`` features (a larger
    leaf alone), each run as large as it can be."""
    units: list[tuple[list[tree.Node], int]] = []

    def visit(node: tree.Node) -> None:
        leaves = node.leaves()
        count = sum(map(_size, leaves))
        if count <= size or node.features is not None:
            units.append((leaves, count))
        else:
            for child in node.children:
                visit(child)

    visit(root)
    runs: list[list[tree.Node]] = []
    filled = size
    for leaves, count in units:
        if filled + count > size:
            runs.append([])
            filled = 0
        runs[-1].extend(leaves)
        filled += count
    return runs


def build(job_id: str, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any] | jobs.HandedOn:
    """The ``tiles.build`` job: a layer's tileset, by parts when it is large (``part_features``: their
    size, else the setting's); the layer held against builds outside the queue until it has written or
    handed on (its parts are covered by its serial key)."""
    with holding(params["layer"], progress, job_id):
        return _build(job_id, params, progress)


def _build(job_id: str, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any] | jobs.HandedOn:
    layer_plan = plan(params["layer"], params.get("formats", "glb"), progress)
    size = int(params.get("part_features", get_settings().tiles_part_features))
    root = layer_plan.tileset.root
    if root is None or layer_plan.tileset.features < 2 * size:
        updated = _update_leaves(layer_plan.spec, layer_plan.features, layer_plan.out, layer_plan.jobs, progress)
        return write_tileset(layer_plan.tileset, updated)
    progress("splitting into parts", 0)
    _clear_stale(params["layer"])
    folder = _folder(params["layer"], job_id)
    shutil.rmtree(folder, ignore_errors=True)  # a run of this job lost before it handed on
    folder.mkdir(parents=True)
    previous = {key: hashes for key, _, hashes in layer_plan.jobs}
    batch, keep = layer_plan.features.batch, layer_plan.features.keep
    runs = subtrees(root, size)
    for number, leaves in enumerate(runs):
        rows = keep[np.concatenate([leaf.features for leaf in leaves if leaf.features is not None])]
        values = {name: [column[r] for r in rows] for name, column in batch.values.items()}
        part_jobs: list[Job] = []
        start = 0
        for leaf in leaves:
            count = _size(leaf)
            part_jobs.append((leaf.key, np.arange(start, start + count), previous[leaf.key]))
            start += count
        _write_atomic(folder / f"{number}.in", pickle.dumps((sources.Batch(batch.columns, values), part_jobs)))
    _write_atomic(folder / TILESET, pickle.dumps(layer_plan.tileset))
    parts = [{"layer": params["layer"], "build": job_id, "part": number} for number in range(len(runs))]
    return jobs.fan_out(job_id, "tiles.part", parts)


def part(job_id: str, params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    """The ``tiles.part`` job: a part's leaves hashed and, where changed, meshed and written; the last
    part to be done writes the tileset and finishes the layer's job."""
    layer, folder, number = params["layer"], _folder(params["layer"], params["build"]), params["part"]
    batch, part_jobs = pickle.loads((folder / f"{number}.in").read_bytes())
    spec = sources.layer(layer)
    features = spec.features(batch)
    if len(features.keep) != len(batch):
        raise RuntimeError(f"part {number} of {layer}: {len(batch) - len(features.keep)} of its rows were not kept")
    updated = _update_leaves(spec, features, layer_dir(layer), part_jobs, progress)
    _write_atomic(folder / f"{number}.out", json.dumps(updated).encode())
    written = sum(any(entry is not None for entry in entries.values()) for entries in updated.values())
    result = {"layer": layer, "part": number, "tiles": len(updated), "tiles_written": written}
    build_id = jobs.part_done(job_id, result)
    if build_id is not None:
        progress("writing the tileset", 100)
        tileset: Tileset = pickle.loads((folder / TILESET).read_bytes())
        leaves: dict[str, dict[str, dict[str, Any] | None]] = {}
        for done in folder.glob("*.out"):
            leaves |= json.loads(done.read_text())
        summary = write_tileset(tileset, leaves)
        jobs.finish(build_id, summary | {"parts": len(list(folder.glob("*.in")))})
        shutil.rmtree(folder, ignore_errors=True)
    return result

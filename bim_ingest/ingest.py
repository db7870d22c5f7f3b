"""Ingest one IFC file as a new model version: read, georeference, triangulate each product and
write everything in one transaction (the job layer then tiles and publishes it).

Elements stream from the geometry kernel (a forked child process, see geometry.MeshStream)
through pyproj (in batches of products: one call per batch, every vertex transformed) into a
binary COPY: no more than a pipe's worth of products' shapes and a few batches are held at a
time, and the fixed costs here (georeferencing transformers, the database, the version row, the
tree) overlap the kernel's work. A second child describes the products (property sets, storey,
materials: elements.Descriptions) in the order their meshes come; footprints are computed once
per shared representation (geometry.Footprints). A failure anywhere before the commit leaves
nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ifcopenshell
import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import update
from sqlalchemy.orm import Session

from bim_ingest import geometry
from bim_ingest.elements import Descriptions, describe, spatial_tree
from bim_ingest.georef import Georef, Override, georeference
from bim_ingest.source import BadIfc, OpenedIfc, open_ifc
from bim_ingest.store import ElementWriter, diff_versions, latest_version, model_for, write_tree
from core.db import get_engine, session_scope
from core.models import BimModelVersion
from core.settings import store_srid

Progress = Callable[[str, float], None]
# products placed together: one pyproj pass over their vertices, one over their footprints'
# outlines; a batch closes early at BATCH_VERTICES (bounds memory on large meshes)
BATCH_PRODUCTS = 64
BATCH_VERTICES = 200_000
# batches whose geometry columns may be in the worker threads at once (bounds memory)
PIPELINE_DEPTH = 2
# footprint unions (GEOS releases the GIL), hashes and EWKB: two threads, so that one long union
# does not hold up the rows behind it
GEOMETRY_THREADS = 2
# products from which a child describes them (below, the fork, ~3 ms, costs more than it saves)
DESCRIBE_APART_FROM = 16
# the georeferencing report's keys the summary repeats
SUMMARY_GEOREF_KEYS = (
    "method",
    "crs",
    "origin_lonlat_h",
    "rotation_deg",
    "scale",
    "grid_convergence_deg",
    "residual_site_m",
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _connect_soon() -> Future[None]:
    """Take a database connection from the pool and put it back, on a thread: a cold process
    connects (and warms the connection, 0.1-0.25 s, mostly the server's) while this one
    georeferences; a warm pool just pings one."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="cim-bim-connect")
    connected = executor.submit(lambda: get_engine().connect().close())
    executor.shutdown(wait=False)
    return connected


@dataclass
class _Version:
    """The new version's row and what the summary says about its place among the model's versions."""

    row: BimModelVersion
    model_id: int
    previous: int | None


def _open_version(
    session: Session, opened: OpenedIfc, georef: Georef, path: Path, project_code: str | None, name: str, srid: int
) -> _Version:
    """Add the version row (numbered after the model's latest) and the model's spatial tree."""
    bim_model = model_for(session, project_code, name)
    previous, last_no = latest_version(session, bim_model.id)
    origin = georef.to_store(np.zeros((1, 3)))[0]
    version = BimModelVersion(
        model_id=bim_model.id,
        version_no=last_no + 1,
        schema=opened.declared_schema[:16],
        file_name=path.name,
        file_sha256=_sha256(path),
        file_bytes=path.stat().st_size,
        georef=georef.report,
        element_count=0,
        status="ingested",
        origin=from_shape(shapely.Point(*origin), srid=srid),
    )
    session.add(version)
    session.flush()
    write_tree(session, version.id, spatial_tree(opened.file))
    return _Version(version, bim_model.id, previous)


@dataclass
class _Batch:
    """Placed products on their way to the COPY: geometry columns and footprints in the pool."""

    global_ids: list[str]
    product_ids: list[int]
    values: Future[list[geometry.ElementValues]]
    footprints: list[geometry.PlacedFootprint]


class _ElementSink:
    """Products' meshes into the version's rows, in batches: placed by pyproj here (one pass over a
    batch's vertices), footprint, hash and EWKB on a pool, written by a binary COPY in arrival
    order with at most ``PIPELINE_DEPTH`` batches in flight; each product's description is asked
    for when its mesh arrives and taken when its row is written."""

    def __init__(
        self,
        session: Session,
        version_id: int,
        model: ifcopenshell.file,
        descriptions: Descriptions,
        georef: Georef,
        srid: int,
        warnings: list[str],
    ) -> None:
        self.writer = ElementWriter(session)
        self.version_id, self.model, self.descriptions = version_id, model, descriptions
        self.georef, self.srid, self.warnings = georef, srid, warnings
        self.seen: set[str] = set()
        self.done: set[int] = set()
        self.empty = 0
        self.batch: list[geometry.Mesh] = []
        self.batch_vertices = 0
        self.pending: deque[_Batch] = deque()

    def write_all(
        self,
        stream: geometry.MeshStream,
        bodies: dict[int, ifcopenshell.entity_instance],
        report: Progress,
        timings: dict[str, float],
        started: float,
    ) -> list[geometry.Untriangulated]:
        """Stream the kernel's meshes in, then the products it could not triangulate as they are;
        returns the products left without geometry."""
        try:
            with ThreadPoolExecutor(GEOMETRY_THREADS, thread_name_prefix="cim-bim-geometry") as pool:
                self.pool, self.footprints = pool, geometry.Footprints(pool)
                timings["setup"] = time.perf_counter() - started
                for mesh in stream.iter(lambda p: report("triangulating", 5 + 0.85 * p)):
                    self._store(mesh)
                stream.close()
                timings["elements"] = time.perf_counter() - started - timings["setup"]
                missing = [product for pid, product in bodies.items() if pid not in self.done]
                made, untriangulated, notes = geometry.triangulate_missing(self.model, missing)
                for mesh in made:
                    self._store(mesh)
                self._place()
                self._flush(0)
        except BaseException as exc:
            self.writer.close(exc)
            raise
        self.writer.close()
        self.warnings += notes
        self.warnings += [
            f"not triangulated: {u.ifc_class} {u.global_id} ({u.name or 'no name'}): {u.reason}" for u in untriangulated
        ]
        if self.empty:
            self.warnings.append(f"{self.empty} product(s) triangulated to an empty mesh")
        return untriangulated

    def _store(self, mesh: geometry.Mesh) -> None:
        self.done.add(mesh.product_id)
        if mesh.global_id in self.seen:
            self.warnings.append(f"duplicate GlobalId {mesh.global_id}: kept the first")
            return
        self.seen.add(mesh.global_id)
        self.empty += not len(mesh.faces)
        self.batch.append(mesh)
        self.batch_vertices += len(mesh.local)
        if len(self.batch) >= BATCH_PRODUCTS or self.batch_vertices >= BATCH_VERTICES:
            self._place()
            self._flush(PIPELINE_DEPTH)

    def _place(self) -> None:
        """The batch's vertices through pyproj at once (its transformers are per thread: here);
        footprints, hashes and EWKB in the pool."""
        meshes, self.batch, self.batch_vertices = self.batch, [], 0
        if not meshes:
            return
        product_ids = [m.product_id for m in meshes]
        self.descriptions.request(product_ids)
        vertices = np.concatenate([m.vertices for m in meshes])
        placed = self.georef.to_store(vertices) if len(vertices) else vertices
        ends = np.cumsum([len(m.vertices) for m in meshes])
        triangles = [
            part[m.faces] if len(m.faces) else m.faces
            for m, part in zip(meshes, np.split(placed, ends[:-1]), strict=True)
        ]
        values = self.pool.submit(lambda: [geometry.element_values(t, self.srid) for t in triangles])
        footprints = [self.footprints.request(m) for m in meshes]
        self.pending.append(_Batch([m.global_id for m in meshes], product_ids, values, footprints))

    def _flush(self, keep: int) -> None:
        while len(self.pending) > keep:
            batch = self.pending.popleft()
            outlines = geometry.place_footprints(batch.footprints, self.georef.to_store, self.srid)
            for global_id, product_id, values, outline in zip(
                batch.global_ids, batch.product_ids, batch.values.result(), outlines, strict=True
            ):
                info = self.descriptions.of(self.model.by_id(product_id))
                self.writer.write(self.version_id, global_id, info, *values, outline)


def _georef_summary(georef: Georef, warnings: list[str]) -> dict[str, Any]:
    return {key: georef.report.get(key) for key in SUMMARY_GEOREF_KEYS} | {"warnings": warnings}


def ingest_file(
    path: str | Path,
    project_code: str | None = None,
    override: Override | None = None,
    progress: Progress | None = None,
    *,
    model_name: str | None = None,
    require_georef: bool = True,
    tree: Callable[[ifcopenshell.file], geometry.TreeJob] | None = None,
) -> dict[str, Any]:
    """Ingest ``path`` (.ifc or .ifczip) as the next version of its model, status ``ingested``;
    returns the summary.

    The model is the project's model named ``model_name`` (default: the file name without its
    extension); each ingest of the same project and name is that model's next version.
    Without georeferencing in the file and without ``override`` this fails, unless
    ``require_georef`` is False (local coordinates are then taken as store coordinates).
    ``tree`` makes a job for the kernel's BVH tree from the parsed model (see
    geometry.TreeJob); its answer is the summary's ``tree_answer``.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    path = Path(path)
    report = progress or (lambda stage, percent: None)
    report("reading", 1)
    srid = store_srid()
    with open_ifc(path) as opened:
        model = opened.file
        bodies = geometry.body_products(model)
        if not bodies:
            raise BadIfc("the model has no geometry: no product has a body representation")
        # the kernel starts triangulating now, in its own process, while this one does the rest
        # (threads only after the forks: a child must not inherit a lock another thread holds)
        apart = len(bodies) >= DESCRIBE_APART_FROM
        with (
            geometry.MeshStream(model, tree=tree(model) if tree else None) as stream,
            Descriptions(bodies, describe, separate_process=apart) as descriptions,
        ):
            connected = _connect_soon()
            georef = georeference(model, override, require=require_georef)
            warnings = georef.report["warnings"] = opened.warnings + georef.report["warnings"]
            name = model_name or path.stem
            connected.result()
            with session_scope() as session:
                version = _open_version(session, opened, georef, path, project_code, name, srid)
                report("triangulating", 5)
                sink = _ElementSink(session, version.row.id, model, descriptions, georef, srid, warnings)
                untriangulated = sink.write_all(stream, bodies, report, timings, started)
                count = sink.writer.count
                report("storing", 92)
                session.execute(
                    update(BimModelVersion)
                    .where(BimModelVersion.id == version.row.id)
                    .values(element_count=count, georef=georef.report, seconds=round(time.perf_counter() - started, 3))
                )
                diff = diff_versions(session, version.previous, version.row.id) if version.previous else None
                version_id, version_no = version.row.id, version.row.version_no
    timings["finish"] = time.perf_counter() - started - timings["setup"] - timings["elements"]
    report("done", 100)
    summary: dict[str, Any] = {
        "model_id": version.model_id,
        "version_id": version_id,
        "version_no": version_no,
        "name": name,
        "schema": opened.declared_schema,
        "elements": count,
        "georef": _georef_summary(georef, warnings),
        "untriangulated": [u.as_dict() for u in untriangulated],
        "diff": None
        if diff is None
        else {k: len(diff[k]) for k in ("added", "removed", "changed")} | {"from_version_id": version.previous},
        "seconds": round(time.perf_counter() - started, 3),
        # this process's phases: setup (read, georeference, version row, tree: while the kernel
        # already triangulates), elements (the stream), finish (retries, counts, diff, commit)
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    if tree is not None:
        summary["tree_answer"] = stream.answer
    return summary

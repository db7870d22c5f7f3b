"""Ingest one IFC file as a new model version: read, georeference, triangulate each product,
write everything in one transaction, then build the version's tileset.

Elements stream from the geometry kernel (a forked child process, see geometry.MeshStream)
through pyproj into a binary COPY: no more than a pipe's worth of products' shapes is held at a
time, and the fixed costs here (georeferencing transformers, the database, the version row, the
tree) overlap the kernel's work. A second child describes the products (property sets, storey,
materials: elements.Descriptions) meanwhile; footprints are computed once per shared
representation (geometry.Footprints). A failure anywhere before the commit leaves nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import update

from bim_ingest import geometry
from bim_ingest.elements import Descriptions, describe, spatial_tree
from bim_ingest.georef import Override, georeference
from bim_ingest.source import BadIfc, open_ifc
from bim_ingest.store import ElementWriter, diff_versions, latest_version, model_for, write_tree
from core.db import get_engine, session_scope
from core.models import BimModelVersion
from gis.crs import store_srid

log = logging.getLogger("cim.bim")

Progress = Callable[[str, float], None]
# elements whose geometry columns may be in the worker threads at once (bounds memory)
PIPELINE_DEPTH = 8
# footprint unions (GEOS releases the GIL), hashes and EWKB: two threads, so that one long union
# does not hold up the rows behind it
GEOMETRY_THREADS = 2
# products from which a child describes them (below, the fork, ~3 ms, costs more than it saves)
DESCRIBE_APART_FROM = 16


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


def _build_tiles(version_id: int) -> tuple[str | None, str | None]:
    """The URL of the version's tileset, or a warning saying why there is none."""
    try:
        from tiles.build import build_bim_version
    except ImportError as exc:
        return None, f"tiles not built: the tiler is not available ({exc})"
    try:
        build_bim_version(version_id)
    except Exception as exc:  # noqa: BLE001 - the model stays ingested, the summary says why it has no tiles
        log.exception("tiling version %s failed", version_id)
        return None, f"tiles not built: {type(exc).__name__}: {exc}"
    return f"/api/v1/tiles/bim-{version_id}/tileset.json", None


def ingest_file(
    path: str | Path,
    project_code: str | None = None,
    override: Override | None = None,
    progress: Progress | None = None,
    publish: bool = True,
    *,
    model_name: str | None = None,
    require_georef: bool = True,
) -> dict[str, Any]:
    """Ingest ``path`` (.ifc or .ifczip) as the next version of its model; returns the summary.

    The model is the project's model named ``model_name`` (default: the file name without its
    extension); each ingest of the same project and name is that model's next version.
    Without georeferencing in the file and without ``override`` this fails, unless
    ``require_georef`` is False (local coordinates are then taken as store coordinates).
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
            geometry.MeshStream(model) as stream,
            Descriptions(bodies, describe, separate_process=apart) as descriptions,
        ):
            connected = _connect_soon()
            georef = georeference(model, override, require=require_georef)
            warnings = georef.report["warnings"] = opened.warnings + georef.report["warnings"]
            name = model_name or path.stem
            origin = georef.to_store(np.zeros((1, 3)))[0]
            connected.result()
            with session_scope() as session:
                bim_model = model_for(session, project_code, name)
                previous, last_no = latest_version(session, bim_model.id)
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
                write_tree(session, version.id, spatial_tree(model))
                report("triangulating", 5)
                writer = ElementWriter(session)
                seen: set[str] = set()
                done: set[int] = set()
                empty = 0
                # (GlobalId, description, future geometry columns, footprint) in iterator order, written as they finish
                pending: deque[tuple[str, Any, Future, geometry.PlacedFootprint]] = deque()

                def flush(keep: int) -> None:
                    while len(pending) > keep:
                        global_id, info, values, outline = pending.popleft()
                        writer.write(version.id, global_id, info, *values.result(), outline.ewkb(georef.to_store, srid))

                def store(mesh: geometry.Mesh) -> None:
                    nonlocal empty
                    done.add(mesh.product_id)
                    if mesh.global_id in seen:
                        warnings.append(f"duplicate GlobalId {mesh.global_id}: kept the first")
                        return
                    seen.add(mesh.global_id)
                    info = descriptions.of(model.by_id(mesh.product_id))
                    empty += not len(mesh.faces)
                    # pyproj here (its transformers are per thread); footprint, hash and EWKB in the pool
                    triangles = georef.to_store(mesh.vertices)[mesh.faces] if len(mesh.faces) else mesh.faces
                    values = pool.submit(geometry.element_values, triangles, srid)
                    pending.append((mesh.global_id, info, values, footprints.request(mesh)))
                    flush(PIPELINE_DEPTH)

                try:
                    with ThreadPoolExecutor(GEOMETRY_THREADS, thread_name_prefix="cim-bim-geometry") as pool:
                        footprints = geometry.Footprints(pool)
                        timings["setup"] = time.perf_counter() - started
                        for mesh in stream.iter(lambda p: report("triangulating", 5 + 0.85 * p)):
                            store(mesh)
                        stream.close()
                        timings["elements"] = time.perf_counter() - started - timings["setup"]
                        missing = [product for pid, product in bodies.items() if pid not in done]
                        made, untriangulated, notes = geometry.triangulate_missing(model, missing)
                        for mesh in made:
                            store(mesh)
                        flush(0)
                except BaseException as exc:
                    writer.close(exc)
                    raise
                writer.close()
                warnings += notes
                warnings += [
                    f"not triangulated: {u.ifc_class} {u.global_id} ({u.name or 'no name'}): {u.reason}"
                    for u in untriangulated
                ]
                if empty:
                    warnings.append(f"{empty} product(s) triangulated to an empty mesh")
                report("storing", 92)
                # without tiles the ingest ends with this transaction: its time is stored with the counts
                finished = {} if publish else {"seconds": round(time.perf_counter() - started, 3)}
                session.execute(
                    update(BimModelVersion)
                    .where(BimModelVersion.id == version.id)
                    .values(element_count=writer.count, georef=georef.report, **finished)
                )
                diff = diff_versions(session, previous, version.id) if previous else None
                version_id, model_id, version_no, count = version.id, bim_model.id, version.version_no, writer.count
    timings["finish"] = time.perf_counter() - started - timings["setup"] - timings["elements"]
    tileset, warning = None, None
    if publish:
        report("tiling", 95)
        tiling = time.perf_counter()
        tileset, warning = _build_tiles(version_id)
        timings["tiles"] = time.perf_counter() - tiling
        with session_scope() as session:
            session.execute(
                update(BimModelVersion)
                .where(BimModelVersion.id == version_id)
                .values(status="published" if tileset else "ingested", seconds=round(time.perf_counter() - started, 3))
            )
    seconds = round(time.perf_counter() - started, 3)
    georef_summary = {
        key: georef.report.get(key)
        for key in (
            "method",
            "crs",
            "origin_lonlat_h",
            "rotation_deg",
            "scale",
            "grid_convergence_deg",
            "residual_site_m",
        )
    }
    warnings = warnings + ([warning] if warning else [])
    report("done", 100)
    return {
        "model_id": model_id,
        "version_id": version_id,
        "version_no": version_no,
        "name": name,
        "schema": opened.declared_schema,
        "elements": count,
        "georef": georef_summary | {"warnings": warnings},
        "untriangulated": [u.as_dict() for u in untriangulated],
        "tileset": tileset,
        "diff": None
        if diff is None
        else {k: len(diff[k]) for k in ("added", "removed", "changed")} | {"from_version_id": previous},
        "seconds": seconds,
        # this process's phases: setup (read, georeference, version row, tree: while the kernel
        # already triangulates), elements (the stream), finish (retries, counts, diff, commit), tiles
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }

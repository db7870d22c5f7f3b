"""Ingest one IFC file as a new model version: read, georeference, triangulate each product,
write everything in one transaction, then build the version's tileset.

Elements stream from the geometry iterator through pyproj into a COPY: no more than one
product's shape is held at a time. A failure anywhere before the commit leaves nothing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from sqlalchemy import update

from bim_ingest import geometry
from bim_ingest.elements import describe, spatial_tree
from bim_ingest.georef import Override, georeference
from bim_ingest.source import BadIfc, open_ifc
from bim_ingest.store import ElementWriter, diff_versions, model_for, next_version_no, previous_version_id, write_tree
from gis.crs import store_srid
from spatial_api.db import session_scope
from spatial_api.models import BimModelVersion

log = logging.getLogger("cim.bim")

Progress = Callable[[str, float], None]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _has_body(product: Any) -> bool:
    shape = getattr(product, "Representation", None)
    return shape is not None and any(
        r.RepresentationIdentifier in (None, "Body", "Facetation") for r in shape.Representations
    )


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
    path = Path(path)
    report = progress or (lambda stage, percent: None)
    report("reading", 1)
    srid = store_srid()
    with open_ifc(path) as opened:
        model = opened.file
        georef = georeference(model, override, require=require_georef)
        georef.report["warnings"] = opened.warnings + georef.report["warnings"]
        bodies = sum(1 for p in model.by_type("IfcProduct") if not p.is_a("IfcOpeningElement") and _has_body(p))
        if bodies == 0:
            raise BadIfc("the model has no geometry: no product has a body representation")
        name = model_name or path.stem
        origin = georef.to_store(np.zeros((1, 3)))[0]
        with session_scope() as session:
            bim_model = model_for(session, project_code, name)
            version = BimModelVersion(
                model_id=bim_model.id,
                version_no=next_version_no(session, bim_model.id),
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
            failed_meshes = 0
            try:
                for mesh in geometry.meshes(model, lambda p: report("triangulating", 5 + 0.85 * p)):
                    if mesh.global_id in seen:
                        georef.report["warnings"].append(f"duplicate GlobalId {mesh.global_id}: kept the first")
                        continue
                    seen.add(mesh.global_id)
                    info = describe(model.by_id(mesh.product_id))
                    triangles = None
                    if len(mesh.faces):
                        triangles = georef.to_store(mesh.vertices)[mesh.faces]
                    else:
                        failed_meshes += 1
                    if triangles is None:
                        writer.write(version.id, mesh.global_id, info, "", None, None, None)
                        continue
                    outline = geometry.footprint(triangles)
                    writer.write(
                        version.id,
                        mesh.global_id,
                        info,
                        geometry.geometry_hash(triangles),
                        (float(triangles[:, :, 2].min()), float(triangles[:, :, 2].max())),
                        geometry.tin_ewkb(triangles, srid).hex(),
                        None
                        if outline is None
                        else shapely.to_wkb(shapely.set_srid(outline, srid), hex=True, include_srid=True),
                    )
            except BaseException as exc:
                writer.close(exc)
                raise
            writer.close()
            untriangulated = bodies - writer.count
            if untriangulated > 0:
                georef.report["warnings"].append(
                    f"{untriangulated} product(s) with a body representation that IfcOpenShell cannot triangulate"
                )
            if failed_meshes:
                georef.report["warnings"].append(f"{failed_meshes} product(s) triangulated to an empty mesh")
            report("storing", 92)
            session.execute(
                update(BimModelVersion)
                .where(BimModelVersion.id == version.id)
                .values(element_count=writer.count, georef=georef.report)
            )
            previous = previous_version_id(session, bim_model.id, version.version_no)
            diff = diff_versions(session, previous, version.id) if previous else None
            version_id, model_id, version_no, count = version.id, bim_model.id, version.version_no, writer.count
    tileset, warning = None, None
    if publish:
        report("tiling", 95)
        tileset, warning = _build_tiles(version_id)
        with session_scope() as session:
            status = "published" if tileset else "ingested"
            session.execute(update(BimModelVersion).where(BimModelVersion.id == version_id).values(status=status))
    seconds = round(time.perf_counter() - started, 3)
    with session_scope() as session:
        session.execute(update(BimModelVersion).where(BimModelVersion.id == version_id).values(seconds=seconds))
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
    warnings = georef.report["warnings"] + ([warning] if warning else [])
    report("done", 100)
    return {
        "model_id": model_id,
        "version_id": version_id,
        "version_no": version_no,
        "name": name,
        "schema": opened.declared_schema,
        "elements": count,
        "georef": georef_summary | {"warnings": warnings},
        "tileset": tileset,
        "diff": None
        if diff is None
        else {k: len(diff[k]) for k in ("added", "removed", "changed")} | {"from_version_id": previous},
        "seconds": seconds,
    }

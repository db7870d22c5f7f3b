"""BIM models: upload, versions, elements, spatial tree, version diff. Versions not yet published
(under review, withdrawn) are seen only by their submitter, the reviewers (engineers) and admins."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import ColumnElement, String, cast, exists, func, or_, select, true
from sqlalchemy.orm import Session

from bim_ingest.georef import parse_override
from bim_ingest.source import check_upload
from bim_ingest.store import diff_versions
from core import jobs
from core.db import session_scope
from core.errors import NotFound, UserError
from core.models import BimElement, BimModel, BimModelVersion, BimSpatialNode, Job, Project
from core.settings import get_settings
from spatial_api import audit
from spatial_api.forms import upload_form
from spatial_api.pipelines import job_url, tileset_url
from spatial_api.schemas.bim import (
    Elements,
    ElementWithFootprint,
    IngestQueued,
    ModelDiff,
    Models,
    ModelWithVersions,
    SpatialTree,
)
from spatial_api.security import Principal, current_principal, require_role
from spatial_api.uploads import receive_file

router = APIRouter(tags=["bim"])
engineers = require_role("engineer")
# Who sees every version, published or not (an engineer sees the unpublished versions they submitted).
REVIEWER_ROLES = frozenset({"reviewer", "admin"})

UPLOAD_FORM = upload_form(
    ".ifc or .ifczip",
    project={"type": "string", "description": "project code"},
    name={"type": "string", "description": "model name (default: the file name)"},
    crs={"type": "string", "description": "override: map CRS, e.g. EPSG:4549"},
    origin={"type": "string", "description": "override: E,N,H of the local origin"},
    rotation={"type": "number", "description": "override: local x from grid east, deg CCW"},
)


def _prepare_upload(path, fields: dict[str, str], filename: str) -> dict[str, Any]:
    """Check the stored upload and the form before queueing; the job's params."""
    check_upload(path)
    rotation = fields.get("rotation") or None
    try:
        rotation_deg = None if rotation is None else float(rotation)
    except ValueError as exc:
        raise UserError(f"rotation {rotation!r} is not a number of degrees") from exc
    override = parse_override(fields.get("crs") or None, fields.get("origin") or None, rotation_deg)
    project_code = fields.get("project") or None
    if project_code is not None:
        with session_scope() as session:
            if session.get(Project, project_code) is None:
                raise NotFound(f"project {project_code} does not exist: give the code of a registered project")
    return {
        "path": str(path),
        "file_name": filename,
        "project_code": project_code,
        "model_name": fields.get("name") or filename.rsplit(".", 1)[0],
        "override": override and override.as_params(),
    }


@router.post("/bim/models", status_code=202, openapi_extra=UPLOAD_FORM, responses={202: {"model": IngestQueued}})
async def upload_model(request: Request, principal: Principal = Depends(engineers)) -> JSONResponse:
    """Upload an IFC model (multipart, streamed to disk, size-limited); 202 with the ingest job."""
    settings = get_settings()
    try:
        path, filename, fields = await receive_file(request, settings.uploads_dir, settings.upload_max_bytes)
    except UserError as exc:
        await asyncio.to_thread(audit.record, "bim.upload", f"upload: {exc}", principal, request, "rejected")
        raise
    try:
        params = await asyncio.to_thread(_prepare_upload, path, fields, filename)
    except UserError as exc:
        path.unlink(missing_ok=True)
        await asyncio.to_thread(audit.record, "bim.upload", f"{filename}: {exc}", principal, request, "rejected")
        raise
    job_id = await asyncio.to_thread(jobs.submit, "bim.ingest", params, principal.username)
    await asyncio.to_thread(audit.record, "bim.upload", f"{filename} job {job_id}", principal, request, "accepted")
    url = job_url(job_id)
    return JSONResponse(
        {"job_id": str(job_id), "status": "queued", "job_url": url}, status_code=202, headers={"Location": url}
    )


def _visible(principal: Principal) -> ColumnElement[bool]:
    """The versions the caller may read: all for reviewers and admins; published ones and their own for others
    (their own: a job of theirs ingested or reviewed it)."""
    if principal.role in REVIEWER_ROLES:
        return true()
    published = BimModelVersion.status == "published"
    if principal.username is None:
        return published
    version_id = cast(BimModelVersion.id, String)
    mine = exists().where(
        Job.username == principal.username,
        or_(Job.result["version_id"].astext == version_id, Job.result["model_version_id"].astext == version_id),
    )
    return or_(published, mine)


def _version(session: Session, model_id: int, version_no: int | None, principal: Principal) -> BimModelVersion:
    query = select(BimModelVersion).where(BimModelVersion.model_id == model_id, _visible(principal))
    if version_no is not None:
        query = query.where(BimModelVersion.version_no == version_no)
    version = session.scalars(query.order_by(BimModelVersion.version_no.desc()).limit(1)).first()
    if version is None:
        which = f"version {version_no}" if version_no is not None else "any version"
        raise NotFound(f"BIM model {model_id} has no {which}: see GET /api/v1/bim/models")
    return version


def _version_json(v: BimModelVersion) -> dict[str, Any]:
    return {
        "version_id": v.id,
        "version_no": v.version_no,
        "status": v.status,
        "schema": v.schema,
        "file_name": v.file_name,
        "file_bytes": v.file_bytes,
        "file_sha256": v.file_sha256,
        "elements": v.element_count,
        "georef": v.georef,
        "seconds": v.seconds,
        "created_at": v.created_at.isoformat(),
        "tileset": tileset_url(v.id) if v.status == "published" else None,
    }


@router.get("/bim/models", response_model=Models)
def list_models(project: str | None = None, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    """All models with their newest version."""
    with session_scope() as session:
        query = select(BimModel).order_by(BimModel.id)
        if project is not None:
            query = query.where(BimModel.project_code == project)
        models = []
        for m in session.scalars(query):
            latest = session.scalars(
                select(BimModelVersion)
                .where(BimModelVersion.model_id == m.id, _visible(principal))
                .order_by(BimModelVersion.version_no.desc())
            ).first()
            if latest is None:
                continue
            models.append(
                {"id": m.id, "project_code": m.project_code, "name": m.name, "latest": latest and _version_json(latest)}
            )
        return {"models": models}


@router.get("/bim/models/{model_id}", response_model=ModelWithVersions)
def get_model(model_id: int, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    """A model and all its versions, each with its georeferencing report."""
    with session_scope() as session:
        model = session.get(BimModel, model_id)
        if model is None:
            raise NotFound(f"BIM model {model_id} does not exist")
        versions = session.scalars(
            select(BimModelVersion)
            .where(BimModelVersion.model_id == model_id, _visible(principal))
            .order_by(BimModelVersion.version_no)
        ).all()
        if not versions:
            raise NotFound(f"BIM model {model_id} does not exist")
        return {
            "id": model.id,
            "project_code": model.project_code,
            "name": model.name,
            "versions": [_version_json(v) for v in versions],
        }


def _element_json(e: BimElement, full: bool) -> dict[str, Any]:
    data = {
        "global_id": e.global_id,
        "ifc_class": e.ifc_class,
        "predefined_type": e.predefined_type,
        "name": e.name,
        "storey": e.storey,
        "materials": e.materials,
        "z_min": e.z_min,
        "z_max": e.z_max,
    }
    return data | ({"properties": e.properties, "quantities": e.quantities, "geom_hash": e.geom_hash} if full else {})


def _property_filter(text: str) -> dict[str, Any]:
    """``Pset.Property=value`` as a JSONB containment; the value as JSON when it parses (true, 3.5), else text."""
    key, sep, raw = text.partition("=")
    pset, dot, prop = key.partition(".")
    if not sep or not dot or not pset or not prop:
        raise UserError(f"property filter {text!r}: write it as Pset_Name.Property=value")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return {pset: {prop: value}}


@router.get("/bim/models/{model_id}/elements", response_model=Elements)
def list_elements(
    model_id: int,
    version: int | None = Query(None, description="version number (default: the newest)"),
    ifc_class: str | None = Query(None, description="e.g. IfcWall (exact class, case-insensitive)"),
    storey: str | None = Query(None, description="storey name"),
    property: list[str] = Query([], description="Pset_WallCommon.IsExternal=true (repeatable)"),
    full: bool = Query(False, description="include property sets and quantities"),
    limit: int = Query(100, ge=1, le=10000),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """A version's elements, filtered by class, storey and property values."""
    with session_scope() as session:
        v = _version(session, model_id, version, principal)
        query = select(BimElement).where(BimElement.version_id == v.id)
        if ifc_class:
            query = query.where(func.lower(BimElement.ifc_class) == ifc_class.lower())
        if storey:
            query = query.where(BimElement.storey == storey)
        for p in property:
            query = query.where(BimElement.properties.contains(_property_filter(p)))
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(BimElement.global_id).limit(limit).offset(offset))
        return {
            "model_id": model_id,
            "version_no": v.version_no,
            "version_id": v.id,
            "total": total,
            "elements": [_element_json(e, full) for e in rows],
        }


@router.get("/bim/models/{model_id}/elements/{global_id}", response_model=ElementWithFootprint)
def get_element(
    model_id: int, global_id: str, version: int | None = None, principal: Principal = Depends(current_principal)
) -> dict[str, Any]:
    """One element with its property sets, quantities and footprint (GeoJSON, CRS84)."""
    with session_scope() as session:
        v = _version(session, model_id, version, principal)
        row = session.execute(
            select(BimElement, func.ST_AsGeoJSON(func.ST_Transform(BimElement.footprint, 4326), 8)).where(
                BimElement.version_id == v.id, BimElement.global_id == global_id
            )
        ).first()
        if row is None:
            raise NotFound(f"element {global_id} is not in version {v.version_no} of model {model_id}")
        element, footprint = row
        return _element_json(element, True) | {"footprint": json.loads(footprint) if footprint else None}


@router.get("/bim/models/{model_id}/tree", response_model=SpatialTree)
def spatial_tree(
    model_id: int, version: int | None = None, principal: Principal = Depends(current_principal)
) -> dict[str, Any]:
    """The spatial tree (project, site, building, storey, space) with element counts per storey."""
    with session_scope() as session:
        v = _version(session, model_id, version, principal)
        nodes = session.scalars(
            select(BimSpatialNode)
            .where(BimSpatialNode.version_id == v.id)
            .order_by(BimSpatialNode.elevation_m.nulls_first(), BimSpatialNode.name)
        ).all()
        counts = dict(
            session.execute(
                select(BimElement.storey, func.count()).where(BimElement.version_id == v.id).group_by(BimElement.storey)
            ).all()
        )
        by_id = {
            n.global_id: {
                "global_id": n.global_id,
                "ifc_class": n.ifc_class,
                "name": n.name,
                "elevation_m": n.elevation_m,
                "children": [],
            }
            | ({"elements": counts.get(n.name, 0)} if n.ifc_class == "IfcBuildingStorey" else {})
            for n in nodes
        }
        roots = []
        for n in nodes:
            parent = by_id.get(n.parent_global_id) if n.parent_global_id else None
            (parent["children"] if parent else roots).append(by_id[n.global_id])
        return {"model_id": model_id, "version_no": v.version_no, "version_id": v.id, "tree": roots}


@router.get("/bim/models/{model_id}/diff", response_model=ModelDiff)
def version_diff(
    model_id: int,
    from_version: int = Query(..., alias="from"),
    to_version: int = Query(..., alias="to"),
    principal: Principal = Depends(current_principal),
) -> dict[str, Any]:
    """Elements added, removed and changed between two versions (by GlobalId and geometry hash)."""
    with session_scope() as session:
        old = _version(session, model_id, from_version, principal)
        new = _version(session, model_id, to_version, principal)
        return diff_versions(session, old.id, new.id) | {"from": old.version_no, "to": new.version_no}

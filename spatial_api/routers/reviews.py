"""Digital drawing review (数字化审图): submit a model for a project, follow the job, read the
report as JSON, HTML or BCF, comment on issues, approve or return."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from bim_ingest.georef import parse_override
from bim_ingest.review import service
from bim_ingest.review.bcf_export import stored_review_bcf
from bim_ingest.review.information import load_ids
from bim_ingest.source import TooLarge, check_upload
from core import jobs
from core.settings import get_settings
from spatial_api import audit, pipelines
from spatial_api.schemas.reviews import (
    Decision,
    IssueNote,
    Review,
    ReviewAction,
    ReviewIssue,
    ReviewQueued,
    ReviewStatus,
    ReviewSummary,
)
from spatial_api.security import Principal, require_role
from spatial_api.uploads import safe_filename

router = APIRouter(prefix="/reviews", tags=["reviews"])

submitter = require_role("planner", "engineer")
reader = require_role("planner", "engineer", "reviewer")
DECIDING_ROLES = ("engineer", "reviewer")
reviewer = require_role(*DECIDING_ROLES)
# What a deciding role may do to a review in review (the viewer shows these buttons and no others).
REVIEW_ACTIONS: tuple[ReviewAction, ...] = ("comment", "resolve", "approve", "return")


def allowed_actions(principal: Principal, document: dict) -> list[ReviewAction]:
    """The actions the caller may take now: the deciding roles' (and admin's) while in review."""
    if document["status"] != "in_review" or principal.role not in {*DECIDING_ROLES, "admin"}:
        return []
    return list(REVIEW_ACTIONS)


def save_upload(upload: UploadFile, folder: Path, name: str) -> Path:
    """Stream an upload to disk, refusing it past the size limit."""
    limit = get_settings().upload_max_bytes
    target = folder / name
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise TooLarge(f"{upload.filename} is over the upload limit of {limit} bytes")
            out.write(chunk)
    return target


@router.post("", status_code=202, responses={202: {"model": ReviewQueued}})
def submit_review(
    request: Request,
    file: UploadFile = File(..., description="IFC model (.ifc or .ifczip)"),
    project: str = Form(..., description="Project code"),
    ids: UploadFile | None = File(None, description="IDS to check against (default: the city's standard)"),
    crs: str | None = Form(None, description="Override: CRS of origin, e.g. EPSG:4549"),
    origin: str | None = Form(None, description="Override: E,N,H of the model origin"),
    rotation: float | None = Form(None, description="Override: rotation in degrees"),
    principal: Principal = Depends(submitter),
) -> JSONResponse:
    """Check the submission at once (project, IDS, file), then review it as a job: `GET /jobs/{id}`."""
    service.check_project(project)
    placement = parse_override(crs, origin, rotation)
    folder = get_settings().uploads_dir / "reviews" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        model_path = save_upload(file, folder, safe_filename(file.filename, "model.ifc"))
        check_upload(model_path)
        ids_path = None
        if ids is not None and ids.filename:
            ids_path = save_upload(ids, folder, safe_filename(ids.filename, "rules.ids"))
            load_ids(ids_path)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    params = {
        "path": str(model_path),
        "project_code": project,
        "ids_path": str(ids_path) if ids_path else None,
        "override": placement and placement.as_params(),
    }
    job_id = jobs.submit("review.run", params, principal.username)
    audit.record("review.submit", f"project:{project}/job:{job_id}", principal, request)
    return JSONResponse({"job_id": str(job_id), "job": pipelines.job_url(job_id)}, status_code=202)


@router.get("", response_model=list[ReviewSummary])
def list_reviews(
    project: str | None = None,
    status: ReviewStatus | None = None,
    principal: Principal = Depends(reader),
) -> list[dict]:
    return service.list_reviews(project, status)


@router.get("/{review_id}", response_model=Review)
def get_review(
    review_id: int,
    all_warnings: bool = Query(False, description="Every warning line as report.warnings, beside the summary"),
    principal: Principal = Depends(reader),
) -> dict:
    """The review: state, report (placement, IDS, planning, clashes, diff; warnings summarised), issues,
    and the actions the caller may take."""
    document = service.review_document(review_id, all_warnings)
    return document | {"actions": allowed_actions(principal, document)}


@router.get("/{review_id}/report.html", response_class=HTMLResponse)
def review_html(review_id: int, principal: Principal = Depends(reader)) -> HTMLResponse:
    from bim_ingest.review.report_html import review_html as render

    return HTMLResponse(render(service.review_document(review_id)))


@router.get(
    "/{review_id}/report.bcf",
    response_class=Response,
    responses={200: {"content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
)
def review_bcf_zip(
    review_id: int,
    request: Request,
    version: Literal["3.0", "2.1"] = Query("3.0", description="BCF version"),
    principal: Principal = Depends(reader),
) -> Response:
    """BCF 3.0 (or 2.1): one topic per failing element with its GlobalId, a viewpoint and a snapshot."""
    data = stored_review_bcf(review_id, version)
    audit.record("review.export_bcf", f"review:{review_id}", principal, request)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="review-{review_id}.bcf"'},
    )


@router.post("/{review_id}/decision", response_model=Review)
def decide(review_id: int, body: Decision, request: Request, principal: Principal = Depends(reviewer)) -> dict:
    """Approve (publish into the BIM layer and tiles) or return the model (it stays unpublished)."""
    try:
        result = pipelines.decide_review(review_id, body.action, principal.username, body.comment)
    except Exception:
        audit.record(f"review.{body.action}", f"review:{review_id}", principal, request, "refused")
        raise
    audit.record(f"review.{body.action}", f"review:{review_id}", principal, request)
    return result | {"actions": allowed_actions(principal, result)}


@router.patch("/{review_id}/issues/{issue_id}", response_model=ReviewIssue)
def annotate_issue(
    review_id: int, issue_id: int, body: IssueNote, request: Request, principal: Principal = Depends(reviewer)
) -> dict:
    """A reviewer's comment on an issue, or marking it resolved (waived)."""
    result = service.annotate_issue(review_id, issue_id, principal.username, body.comment, body.resolved)
    audit.record("review.comment", f"review:{review_id}/issue:{issue_id}", principal, request)
    return result

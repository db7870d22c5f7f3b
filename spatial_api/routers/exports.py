"""Bulk export: ``POST /exports`` (a query and a format) → 202 and a job; ``GET /exports/{id}/file``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from core import districts, jobs
from core.errors import Forbidden, NotFound, UserError
from core.models import Job
from exports import approvals
from exports.labels import Headers
from exports.run import check, exports_dir
from spatial_api import audit
from spatial_api.schemas.common import file_answer
from spatial_api.security import Principal, require_role

router = APIRouter(prefix="/exports", tags=["exports"])
# Bulk export is the bureau's: any logged-in role, not the public.
staff = require_role("planner", "engineer", "emergency")

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpkg": "application/geopackage+sqlite3",
}


class ExportRequest(BaseModel):
    query: dict[str, Any] = Field(
        description='what to export, by its "source": collection {"collection", "filters", "properties"}, '
        'within {"collection", "geometry": GeoJSON polygon, "properties"}, search {"q", "kind", "district"} '
        'or profile {"kind", "id"}',
        examples=[{"source": "collection", "collection": "buildings", "filters": {"use": "residential"}}],
    )
    format: Literal["csv", "xlsx", "gpkg"]
    headers: Headers = Field(
        "zh",
        description="zh: Chinese column names and coded values as Chinese labels; zh+en: the same with the"
        " English names in a second header row (csv, xlsx); field: field names and codes as stored",
    )


class ExportJob(BaseModel):
    id: str = Field(description="the job: GET /jobs/{id} for progress, GET /exports/{id}/file when it succeeded")
    status: str
    percent: float
    personal: bool = Field(description="whether the file carries personal data")
    requires_approval: bool = Field(
        description="personal data or more rows than configured: held (pending_approval) until a second person"
        " approves it (POST /approvals/{approval}/approve)"
    )
    approval: str | None = Field(None, description="the approval the export waits for or had")
    approval_status: str | None = Field(None, description="pending, approved or rejected")
    error: str | None = Field(None, description="why it failed or was rejected")
    rows: int | None = None
    file: str | None = Field(None, description="the download's path once the job succeeded")


def _answer(job: Job) -> ExportJob:
    done = job.status == "succeeded"
    approval = approvals.of_job(job.id)
    return ExportJob(
        id=str(job.id),
        status=job.status,
        percent=job.percent,
        personal=bool(job.params.get("personal_rows")),
        requires_approval=approval is not None,
        approval=str(approval.id) if approval else None,
        approval_status=approval.status if approval else None,
        error=job.error,
        rows=(job.result or {}).get("rows"),
        file=f"/api/v1/exports/{job.id}/file" if done else None,
    )


def _job(export_id: str, principal: Principal) -> Job:
    job = jobs.find(export_id, "exports.run")
    if job.username != principal.username and principal.role != "admin":
        raise Forbidden("only who asked for an export (or an administrator) may fetch it")
    return job


@router.post("", status_code=202)
def submit(request: Request, body: ExportRequest, principal: Principal = Depends(staff)) -> ExportJob:
    """Queue an export; bad queries are refused now. Exports of personal data need a role that may see it,
    and they (or more rows than configured) wait for a second person's approval (``pending_approval``).
    A user limited to some districts exports only what lies in them."""
    if not isinstance(body.query, dict):
        raise UserError("query must be an object with a source")
    scope = districts.param(principal.districts)
    personal_rows, total = check(body.query, body.format, principal.sees_personal_data, scope)
    # The requester's rights and districts as they are now go with the job: the worker applies them.
    params = {"query": body.query, "format": body.format, "headers": body.headers,
              "personal": principal.sees_personal_data, "districts": scope}  # fmt: skip
    held = approvals.needs_approval(personal_rows, total)
    job_id = jobs.submit("exports.run", {**params, "personal_rows": personal_rows}, principal.username, hold=held)
    what = f"export {job_id} {body.format} {body.query.get('source')} ({total} rows)"
    audit.record("export_personal" if personal_rows else "export", what, principal, request)
    if held:
        approval = approvals.hold_export(job_id, principal.username or "", what)
        audit.record("approval_request", f"approval {approval.id} for {what}", principal, request)
    return _answer(_job(str(job_id), principal))


@router.get("/{export_id}")
def status(export_id: str, principal: Principal = Depends(staff)) -> ExportJob:
    """An export's status, percent and, when done, its rows and download."""
    return _answer(_job(export_id, principal))


@router.get("/{export_id}/file", response_class=FileResponse, responses=file_answer(*MEDIA.values()))
def download(request: Request, export_id: str, principal: Principal = Depends(staff)) -> FileResponse:
    """The exported file, once its job succeeded."""
    job = _job(export_id, principal)
    if job.status != "succeeded" or job.result is None:
        raise UserError(f"export {export_id} is {job.status} ({job.percent:.0f} %): fetch the file when it succeeded")
    path = exports_dir() / job.result["file"]
    if not path.is_file():
        raise NotFound(f"the file of export {export_id} is gone: export again")
    if job.params.get("personal_rows"):
        audit.record("download_personal", f"export {export_id}", principal, request)
    fmt = job.params["format"]
    return FileResponse(path, media_type=MEDIA[fmt], filename=f"export-{export_id[:8]}.{fmt}")

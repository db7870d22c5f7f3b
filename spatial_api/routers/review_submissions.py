"""Joint drawing review (多图联审): submit once, routed to every agency the project needs; each
agency sees its own queue and decides its part; the submission passes when every agency passes."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from bim_ingest.review import drawings, oversight, seal, service, submissions
from bim_ingest.source import check_upload
from core import jobs
from core.errors import NotFound
from core.settings import get_settings
from spatial_api import audit, pipelines
from spatial_api.routers.reviews import reader, reviewer, save_upload, submitter
from spatial_api.schemas.common import file_answer
from spatial_api.schemas.reviews import ReviewIssue
from spatial_api.security import Principal

router = APIRouter(prefix="/reviews/submissions", tags=["joint review"])


def clock() -> datetime:
    """The time due dates and overdue flags are reckoned from (a dependency: tests set it)."""
    return datetime.now(UTC)


class Label(BaseModel):
    zh: str
    en: str


class Decision(BaseModel):
    action: Literal["approve", "return"]
    by: str | None
    at: str
    comment: str | None = None


class Seal(BaseModel):
    pdf_sha256: str
    html_sha256: str
    signer: str
    certificate_serial: str
    issuer: str
    sealed_at: str


class SignatureCheck(BaseModel):
    field: str | None
    intact: bool
    signature_valid: bool
    trusted: bool
    covers_whole_file: bool | None = None
    signer: str | None = None
    signer_serial_number: str | None = None
    issuer: str | None = None
    certificate_serial: str | None = None
    signed_at: str | None = None
    error: str | None = None


class Verification(BaseModel):
    sha256: str
    valid: bool
    reason: str
    signatures: list[SignatureCheck]


class AgencyPart(BaseModel):
    review_id: int
    drawing_type: str
    drawing_type_label: Label
    agency: str
    agency_name: str | None
    round: int
    status: Literal["received", "in_review", "returned", "approved"]
    status_label: str
    received_at: str | None
    due_at: str | None
    overdue: bool
    decided_at: str | None
    passed_checks: bool | None
    counts: dict | None
    decision: Decision | None
    seal: Seal | None = None


class QueueItem(AgencyPart):
    submission_id: int
    project_code: str


class Submission(BaseModel):
    id: int
    project_code: str
    submitted_by: str | None
    round: int
    status: Literal["in_review", "returned", "approved"]
    status_label: str
    received_at: str
    decided_at: str | None
    files: dict[str, list[str]]
    agencies: list[AgencyPart]
    overdue_agencies: list[str]
    history: list[AgencyPart]
    seal: Seal | None = Field(None, description="The seal of the decision just made (decision responses)")


class Accepted(BaseModel):
    job_id: str
    job: str


class Drawing(BaseModel):
    index: int = Field(description="The drawing's number in the submission (every round's, in the order received)")
    name: str
    pages: int
    bytes: int
    sha256: str


class DrawingIssue(BaseModel):
    drawing: int = Field(description="The drawing's index (GET .../drawings)")
    page: int = Field(description="Page number, from 1")
    region: tuple[float, float, float, float] = Field(
        description="x0, y0, x1, y1: fractions of the page's width and height from its top left corner"
    )
    message: str = Field(min_length=1, max_length=4000)
    severity: Literal["error", "warning"] = "error"
    global_id: str | None = Field(None, description="The model element the issue is also about (IFC GlobalId)")


class AgencyDecision(BaseModel):
    action: Literal["approve", "return"]
    comment: str | None = Field(None, max_length=4000)


def _receive(model: UploadFile, pdfs: list[UploadFile]) -> tuple[Path, list[str]]:
    """The model and PDF drawings saved in a folder of their own (removed if any is refused)."""
    folder = get_settings().uploads_dir / "submissions" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        model_path = save_upload(model, folder, Path(model.filename or "model.ifc").name)
        check_upload(model_path)
        saved = []
        for pdf in pdfs:
            if not pdf.filename:
                continue
            target = save_upload(pdf, folder, Path(pdf.filename).name)
            drawings.page_count(target)
            saved.append(str(target))
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return model_path, saved


def _enqueue(
    file: UploadFile, pdfs: list[UploadFile], params: dict, principal: Principal, request: Request, now: datetime
) -> JSONResponse:
    """Save the upload and queue the submission job; audited as ``review.submission`` (first round)
    or ``review.resubmit``."""
    model_path, saved = _receive(file, pdfs)
    params = params | {
        "path": str(model_path),
        "username": principal.username,
        "pdfs": saved,
        "received_at": now.isoformat(),
    }
    job_id = jobs.submit("review.submission", params, principal.username)
    if "submission_id" in params:
        audit.record("review.resubmit", f"submission:{params['submission_id']}/job:{job_id}", principal, request)
    else:
        audit.record("review.submission", f"project:{params['project_code']}/job:{job_id}", principal, request)
    return JSONResponse({"job_id": str(job_id), "job": f"/api/v1/jobs/{job_id}"}, status_code=202)


@router.post("", status_code=202, response_model=Accepted)
def submit(
    request: Request,
    file: UploadFile = File(..., description="IFC model (.ifc or .ifczip)"),
    project: str = Form(..., description="Project code"),
    pdfs: list[UploadFile] = File(default_factory=list, description="PDF drawings"),
    principal: Principal = Depends(submitter),
    now: datetime = Depends(clock),
) -> JSONResponse:
    """Receive a submission once (一窗受理) and route it to every agency its project type needs, as
    a job: `GET /jobs/{id}`."""
    service.check_project(project)
    return _enqueue(file, pdfs, {"project_code": project}, principal, request, now)


@router.get("/queue", response_model=list[QueueItem])
def agency_queue(
    status: Literal["in_review", "returned", "approved"] | None = "in_review",
    principal: Principal = Depends(reviewer),
    now: datetime = Depends(clock),
) -> list[dict]:
    """The caller's agencies' parts of submissions (only theirs), the earliest due first."""
    return submissions.queue(principal.username, now, status)


class StateDays(BaseModel):
    in_review: float
    returned: float
    approved: float


class StateStyle(BaseModel):
    zh: str
    en: str
    colour: str


class OverseenSubmission(BaseModel):
    id: int
    project_code: str
    project_name: str | None
    status: Literal["in_review", "returned", "approved"]
    status_label: Label
    round: int
    received_at: str
    decided_at: str | None
    days_in_state: StateDays = Field(description="Days spent in each state so far")
    agencies: list[AgencyPart]
    overdue_agencies: list[str]


class RulePassRate(BaseModel):
    rule: str
    drawing_types: list[str]
    checked: int = Field(description="Review runs that checked the rule")
    passed: int
    pass_rate: float


class Oversight(BaseModel):
    generated_at: str
    states: dict[str, StateStyle]
    submissions: list[OverseenSubmission]
    rules: list[RulePassRate] = Field(description="Every rule's pass rate over all review runs, the lowest first")


EXPORTS = {
    "csv": ("text/csv; charset=utf-8", oversight.oversight_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", oversight.oversight_xlsx),
}


@router.get(
    "/oversight",
    response_model=Oversight,
    responses={200: {"content": {media: {} for media, _ in EXPORTS.values()}}},
)
def oversee(
    request: Request,
    f: Literal["json", "csv", "xlsx"] = "json",
    principal: Principal = Depends(reader),
    now: datetime = Depends(clock),
) -> Response | dict:
    """Every submission with its agencies, rounds, days in each state and overdue agencies, and the
    pass rate of every rule (审图监管); ``f=csv|xlsx`` exports it."""
    document = oversight.oversight(now)
    if f == "json":
        return document
    media, render = EXPORTS[f]
    audit.record("review.oversight_export", f"format:{f}", principal, request)
    return Response(
        render(document),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="review-oversight.{f}"'},
    )


class SubmissionOnMap(BaseModel):
    submission: int
    project_code: str
    project_name: str | None
    status: Literal["in_review", "returned", "approved"]
    status_zh: str
    status_en: str
    colour: str = Field(description="The state's colour (#rrggbb)")
    round: int
    overdue_agencies: int


class SubmissionFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: dict | None = Field(description="GeoJSON geometry in CRS84: the project's footprint, else its parcel")
    properties: SubmissionOnMap


class SubmissionsMap(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[SubmissionFeature]


@router.get("/oversight.geojson", response_model=SubmissionsMap)
def oversee_map(principal: Principal = Depends(reader), now: datetime = Depends(clock)) -> dict:
    """The submissions on the map (GeoJSON): each at its project's footprint or parcel, coloured by state."""
    return oversight.oversight_geojson(oversight.oversight(now))


@router.get("/{submission_id}", response_model=Submission)
def get_submission(submission_id: int, principal: Principal = Depends(reader), now: datetime = Depends(clock)) -> dict:
    """The submission: every agency's part (state, due date, overdue) and earlier rounds."""
    return submissions.submission_document(submission_id, now)


@router.post("/{submission_id}/resubmit", status_code=202, response_model=Accepted)
def resubmit(
    submission_id: int,
    request: Request,
    file: UploadFile = File(..., description="The corrected IFC model"),
    pdfs: list[UploadFile] = File(default_factory=list, description="PDF drawings"),
    principal: Principal = Depends(submitter),
    now: datetime = Depends(clock),
) -> JSONResponse:
    """A corrected model for a returned submission: a new round for the agencies that returned it."""
    document = submissions.submission_document(submission_id, now)
    if document["status"] != "returned":
        raise service.Conflict(
            f"submission {submission_id} is {document['status']}: only a returned one is resubmitted"
        )
    return _enqueue(file, pdfs, {"submission_id": submission_id}, principal, request, now)


@router.get("/{submission_id}/drawings", response_model=list[Drawing])
def list_drawings(submission_id: int, principal: Principal = Depends(reader)) -> list[dict]:
    """The submission's PDF drawings (图纸) with their page counts."""
    return drawings.drawings(submission_id)


@router.get("/{submission_id}/drawings/{index}", response_class=FileResponse, responses=file_answer("application/pdf"))
def drawing_pdf(submission_id: int, index: int, request: Request, principal: Principal = Depends(reader)) -> Response:
    """One PDF drawing, shown inline (the viewer's drawing page renders it with pdf.js)."""
    path = drawings.drawing_path(submission_id, index)
    audit.record("review.drawing_read", f"submission:{submission_id}/drawing:{index}", principal, request)
    return FileResponse(
        path,
        media_type="application/pdf",
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{quote(path.name)}"},
    )


@router.post("/{submission_id}/reviews/{review_id}/issues", status_code=201, response_model=ReviewIssue)
def add_drawing_issue(
    submission_id: int, review_id: int, body: DrawingIssue, request: Request, principal: Principal = Depends(reviewer)
) -> dict:
    """An agency reviewer's issue at a page and region of a PDF drawing (and at an element, if given)."""
    issue = drawings.add_drawing_issue(
        submission_id,
        review_id,
        principal.username,
        body.drawing,
        body.page,
        body.region,
        body.message,
        body.severity,
        body.global_id,
    )
    audit.record(
        "review.drawing_issue", f"submission:{submission_id}/review:{review_id}/issue:{issue['id']}", principal, request
    )
    return issue


@router.post("/{submission_id}/reviews/{review_id}/decision", response_model=Submission)
def decide(
    submission_id: int,
    review_id: int,
    body: AgencyDecision,
    request: Request,
    principal: Principal = Depends(reviewer),
    now: datetime = Depends(clock),
) -> dict:
    """An agency's reviewer passes or returns the agency's part."""
    target = f"submission:{submission_id}/review:{review_id}"
    try:
        if review_id not in {p["review_id"] for p in submissions.submission_document(submission_id, now)["agencies"]}:
            raise service.Conflict(
                f"review {review_id} is not the current part of an agency in submission {submission_id}"
            )
        result = pipelines.decide_submission(review_id, body.action, principal.username, now, body.comment)
    except Exception:
        audit.record(f"review.agency_{body.action}", target, principal, request, "refused")
        raise
    audit.record(f"review.agency_{body.action}", target, principal, request)
    sealed = result["seal"]
    audit.record(
        "review.seal",
        f"{target}/pdf-sha256:{sealed['pdf_sha256']}/signer:{sealed['signer']}/cert:{sealed['certificate_serial']}",
        principal,
        request,
    )
    return result


def _sealed(submission_id: int, review_id: int, now: datetime, html: bool = False) -> Path:
    parts = submissions.submission_document(submission_id, now)
    if review_id not in {p["review_id"] for p in parts["agencies"] + parts["history"]}:
        raise NotFound(f"submission {submission_id} has no review {review_id}")
    pdf, page = submissions.sealed_paths(review_id)
    path = page if html else pdf
    if not path.exists():
        raise NotFound(f"review {review_id} has no sealed report yet: its agency has not decided")
    return path


@router.get(
    "/{submission_id}/reviews/{review_id}/report.pdf", response_class=Response, responses=file_answer("application/pdf")
)
def sealed_pdf(
    submission_id: int, review_id: int, principal: Principal = Depends(reader), now: datetime = Depends(clock)
) -> Response:
    """The agency's decision as a PDF signed with its certificate (电子签章)."""
    path = _sealed(submission_id, review_id, now)
    return Response(
        path.read_bytes(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )


@router.get("/{submission_id}/reviews/{review_id}/report.html", response_class=HTMLResponse)
def sealed_html(
    submission_id: int, review_id: int, principal: Principal = Depends(reader), now: datetime = Depends(clock)
) -> HTMLResponse:
    """The decision's HTML report (the sealed PDF names its SHA-256)."""
    return HTMLResponse(_sealed(submission_id, review_id, now, html=True).read_text(encoding="utf-8"))


@router.get("/{submission_id}/reviews/{review_id}/verify", response_model=Verification)
def verify_sealed(
    submission_id: int,
    review_id: int,
    request: Request,
    principal: Principal = Depends(reader),
    now: datetime = Depends(clock),
) -> dict:
    """Check the stored sealed PDF: intact, signed over the whole file by a trusted certificate, and by whom."""
    result = seal.verify_pdf(_sealed(submission_id, review_id, now).read_bytes())
    outcome = "ok" if result["valid"] else "invalid"
    audit.record("review.verify_seal", f"submission:{submission_id}/review:{review_id}", principal, request, outcome)
    return result

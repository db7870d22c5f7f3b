"""Second-person approval of personal data going out: held exports and view grants. ``GET /approvals``
lists them (approvers: all; others: their own), ``POST /approvals`` asks for a view grant, ``POST
/approvals/{id}/approve|reject`` decides (another user with an approving role; never the requester).
Every step is audited, refused decisions too."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from core.errors import UserError
from core.models import Approval
from exports import approvals
from spatial_api import audit
from spatial_api.security import Principal, require_role

router = APIRouter(prefix="/approvals", tags=["approvals"])
# Logged-in staff ask; approvals.APPROVER_ROLES decide.
staff = require_role("planner", "engineer", "emergency", "records", "credit", "reviewer")


class ApprovalOut(BaseModel):
    id: str
    kind: Literal["export", "view"] = Field(description="export: a held export job; view: a grant to see more")
    job_id: str | None = Field(None, description="the held export (GET /exports/{job_id})")
    what: str
    reason: str | None
    requested_by: str
    status: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    valid_until: datetime | None = Field(None, description="until when an approved view grant holds")
    created_at: datetime


class ViewRequest(BaseModel):
    kind: Literal["view"] = "view"
    reason: str = Field(description="why more people's personal data must be seen", min_length=1, max_length=2000)


class Decision(BaseModel):
    note: str | None = Field(None, max_length=2000)


def _out(row: Approval) -> ApprovalOut:
    return ApprovalOut(
        id=str(row.id),
        kind=row.kind,  # type: ignore[arg-type]
        job_id=str(row.job_id) if row.job_id else None,
        what=row.what,
        reason=row.reason,
        requested_by=row.requested_by,
        status=row.status,  # type: ignore[arg-type]
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        note=row.note,
        valid_until=row.valid_until,
        created_at=row.created_at,
    )


@router.get("")
def list_approvals(
    status: Literal["pending", "approved", "rejected"] | None = Query(None),
    principal: Principal = Depends(staff),
) -> list[ApprovalOut]:
    """Requests, newest first: every one for approvers, one's own for the others."""
    return [_out(r) for r in approvals.listing(principal.username or "", principal.role, status)]


@router.post("", status_code=201)
def request_view(request: Request, body: ViewRequest, principal: Principal = Depends(staff)) -> ApprovalOut:
    """Ask for a grant to see more people's personal data than the threshold allows."""
    if not principal.sees_personal_data:
        raise UserError(f"role {principal.role!r} sees personal data masked: there is nothing to approve")
    row = approvals.request_view(principal.username or "", body.reason)
    audit.record("approval_request", f"approval {row.id} for {row.what}: {body.reason}", principal, request)
    return _out(row)


def _decide(request: Request, approval_id: str, principal: Principal, approve: bool, note: str | None) -> ApprovalOut:
    verb = "approve" if approve else "reject"
    try:
        row = approvals.decide(approval_id, principal.username or "", principal.role, approve, note)
    except UserError as exc:
        audit.record(f"approval_{verb}", f"approval {approval_id}: {exc}", principal, request, result="refused")
        raise
    what = f"approval {row.id} ({row.kind}) of {row.requested_by}: {row.what}"
    audit.record(f"approval_{verb}", what, principal, request, detail={"note": note})
    return _out(row)


@router.post("/{approval_id}/approve")
def approve(
    request: Request, approval_id: str, body: Decision | None = None, principal: Principal = Depends(staff)
) -> ApprovalOut:
    """Approve: a held export is queued, a view grant starts."""
    return _decide(request, approval_id, principal, True, body.note if body else None)


@router.post("/{approval_id}/reject")
def reject(
    request: Request, approval_id: str, body: Decision | None = None, principal: Principal = Depends(staff)
) -> ApprovalOut:
    """Reject: a held export ends ``rejected`` and never runs."""
    return _decide(request, approval_id, principal, False, body.note if body else None)

"""Second-person approval of personal data going out (security design: approval for bulk export and
sensitive views). An export whose rows carry personal data, or more rows than configured, is held as
``pending_approval``; seeing more people's records unmasked than the threshold within the window needs
an approved view grant. An approver (another user with an approving role) approves or rejects; the
requester never decides their own request. The callers audit every step."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, text

from core import jobs
from core.db import read_engine, session_scope
from core.errors import Forbidden, NotFound, UserError
from core.models import Approval
from core.settings import get_settings

APPROVER_ROLES = frozenset({"admin"})
# The audit detail key counting the people whose records a read showed unmasked.
PERSONAL_RECORDS = "personal_records"


def needs_approval(personal: bool, rows: int) -> bool:
    """Whether an export waits for a second person: personal data, or more rows than configured."""
    return personal or rows > get_settings().export_approval_rows


def hold_export(job_id: uuid.UUID, requested_by: str, what: str) -> Approval:
    """Record the approval a held export job waits for."""
    with session_scope() as session:
        approval = Approval(kind="export", job_id=job_id, what=what, requested_by=requested_by, status="pending")
        session.add(approval)
        session.flush()
        session.expunge(approval)
    return approval


def request_view(requested_by: str, reason: str) -> Approval:
    """Ask for a grant to see personal data past the threshold."""
    if not reason.strip():
        raise UserError("say why you need to see more people's personal data (reason)")
    with session_scope() as session:
        approval = Approval(kind="view", what="personal data past the view threshold", reason=reason,
                            requested_by=requested_by, status="pending")  # fmt: skip
        session.add(approval)
        session.flush()
        session.expunge(approval)
    return approval


def get(approval_id: str) -> Approval:
    """The approval with this id, or a 404."""
    found = None
    with session_scope() as session:
        if _is_uuid(approval_id):
            found = session.get(Approval, uuid.UUID(approval_id))
        if found is not None:
            session.expunge(found)
    if found is None:
        raise NotFound(f"approval {approval_id} does not exist")
    return found


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def of_job(job_id: uuid.UUID) -> Approval | None:
    with session_scope() as session:
        found = session.execute(select(Approval).where(Approval.job_id == job_id)).scalar_one_or_none()
        if found is not None:
            session.expunge(found)
    return found


def listing(username: str, role: str, status: str | None) -> list[Approval]:
    """Approvers see every request; others their own. Newest first."""
    query = select(Approval).order_by(Approval.created_at.desc())
    if role not in APPROVER_ROLES:
        query = query.where(Approval.requested_by == username)
    if status:
        query = query.where(Approval.status == status)
    with session_scope() as session:
        found = list(session.execute(query).scalars())
        session.expunge_all()
    return found


def check_decider(approval: Approval, username: str, role: str) -> None:
    """Only a second person with an approving role decides, and only once."""
    if role not in APPROVER_ROLES:
        raise Forbidden(f"only the roles {', '.join(sorted(APPROVER_ROLES))} approve personal-data requests")
    if username == approval.requested_by:
        raise Forbidden(f"{username} asked for this and cannot also approve it: a second person must")
    if approval.status != "pending":
        raise UserError(f"approval {approval.id} was already {approval.status} by {approval.decided_by}")


def decide(approval_id: str, username: str, role: str, approve: bool, note: str | None) -> Approval:
    """Approve (a held export is queued; a view grant holds for ``view_grant_hours``) or reject (a held
    export is ended, ``rejected``)."""
    approval = get(approval_id)
    check_decider(approval, username, role)
    now = datetime.now(UTC)
    values = {
        "status": "approved" if approve else "rejected",
        "decided_by": username,
        "decided_at": now,
        "note": note,
        "valid_until": now + timedelta(hours=get_settings().view_grant_hours)
        if approve and approval.kind == "view"
        else None,
    }
    with session_scope() as session:
        row = session.get(Approval, approval.id, with_for_update=True)
        if row is None or row.status != "pending":
            raise UserError(f"approval {approval_id} was decided meanwhile")
        for name, value in values.items():
            setattr(row, name, value)
        session.flush()
        session.expunge(row)
    if approval.job_id is not None:
        if approve:
            jobs.release(approval.job_id)
        else:
            jobs.refuse(approval.job_id, f"rejected by {username}" + (f": {note}" if note else ""))
    return row


def _viewed(conn: Connection, username: str) -> int:
    """People's records shown unmasked to ``username`` within the window (from the audit log)."""
    return conn.execute(
        text(
            f"""SELECT coalesce(sum((detail->>'{PERSONAL_RECORDS}')::int), 0) FROM audit_log
                 WHERE username = :u AND result = 'ok' AND at > now() - make_interval(secs => :w)
                   AND detail ? '{PERSONAL_RECORDS}'"""
        ),
        {"u": username, "w": get_settings().personal_view_window_seconds},
    ).scalar_one()


def _granted(conn: Connection, username: str) -> bool:
    return conn.execute(
        text(
            """SELECT EXISTS (SELECT 1 FROM approval WHERE requested_by = :u AND kind = 'view'
                                AND status = 'approved' AND valid_until > now())"""
        ),
        {"u": username},
    ).scalar_one()


def may_view(username: str, records: int) -> tuple[bool, int]:
    """Whether ``username`` may see ``records`` more people's records unmasked now, and how many they
    saw within the window before."""
    with read_engine().connect() as conn:
        viewed = _viewed(conn, username)
        allowed = viewed + records <= get_settings().personal_view_threshold or _granted(conn, username)
    return allowed, viewed

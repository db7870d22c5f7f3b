"""Joint drawing review (多图联审): one submission received once (一窗受理), routed at once to every
agency its project type needs (网上流转), each agency reviewing, commenting, returning or passing on
its own clock (联合审图); the submission passes when every agency passes, and a resubmission goes
back only to the agencies that returned it.

Every function that reads or sets a time takes ``now`` (the clock is injectable: due dates and
overdue flags are tested without waiting)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bim_ingest.georef import Override
from bim_ingest.review import rule_sets, rules, seal, service
from bim_ingest.review.information import load_ids
from bim_ingest.review.report_html import review_html
from bim_ingest.review.report_pdf import decision_pdf
from bim_ingest.source import open_ifc
from core.db import get_row, session_scope
from core.errors import NotFound, UserError
from core.models import (
    BimModelVersion,
    DrawingReview,
    Enterprise,
    Project,
    ReviewAgencyMember,
    ReviewIssue,
    ReviewRoute,
    ReviewSubmission,
    User,
)
from core.settings import get_settings

_STATES_FILE = Path(__file__).parent / "data" / "submission_states.json"
# a submission's states with their zh/en labels and map colours
STATES: dict[str, dict[str, str]] = {k: v for k, v in json.loads(_STATES_FILE.read_text("utf-8")).items() if k != "_"}
STATUS_LABELS = {state: label["zh"] for state, label in STATES.items()}
AGENCY_TYPE = "review_agency"


class Forbidden(UserError):
    status_code = 403


def set_route(drawing_type: str, agency_uscc: str, due_days: int | None = None) -> None:
    """The review agency that reviews a drawing type (and its period, else the rule set's)."""
    rule_sets.rule_set(drawing_type)
    with session_scope() as session:
        _agency(session, agency_uscc)
        route = session.get(ReviewRoute, drawing_type) or ReviewRoute(drawing_type=drawing_type)
        route.agency_uscc, route.due_days = agency_uscc, due_days
        session.merge(route)


def add_member(agency_uscc: str, username: str, role: str = "reviewer") -> None:
    """A user reviews for an agency (``role`` reviewer or chief)."""
    with session_scope() as session:
        _agency(session, agency_uscc)
        if session.get(User, username) is None:
            raise NotFound(f"user {username!r} does not exist")
        session.merge(ReviewAgencyMember(agency_uscc=agency_uscc, username=username, role=role))


def _agency(session: Session, uscc: str) -> Enterprise:
    agency = session.get(Enterprise, uscc)
    if agency is None or agency.type != AGENCY_TYPE:
        raise NotFound(f"{uscc!r} is not a review agency (an enterprise of type {AGENCY_TYPE})")
    return agency


def agencies_of(session: Session, username: str | None) -> set[str]:
    rows = session.scalars(select(ReviewAgencyMember.agency_uscc).where(ReviewAgencyMember.username == username))
    return set(rows)


def _routes(session: Session, drawing_types: list[str]) -> dict[str, ReviewRoute]:
    routes = {r.drawing_type: r for r in session.scalars(select(ReviewRoute))}
    missing = [t for t in drawing_types if t not in routes]
    if missing:
        labels = ", ".join(f"{rule_sets.rule_set(t).label_zh} {t}" for t in missing)
        raise UserError(f"no review agency reviews {labels}: assign one (cim review route DRAWING_TYPE USCC)")
    return routes


def submit(
    path: str | Path,
    project_code: str,
    username: str | None,
    now: datetime,
    pdfs: list[str] | None = None,
    override: Override | None = None,
    progress: service.Progress | None = None,
) -> dict[str, Any]:
    """Receive a submission: ingest the model once (unpublished) and open one review per drawing
    type the project's type needs, each with its agency's rule set and due date."""
    with session_scope() as session:
        project = session.get(Project, project_code)
        if project is None:
            raise NotFound(f"project {project_code!r} does not exist: give the code of a registered project")
        drawing_types = rule_sets.required_types(project.type)
        _routes(session, drawing_types)
    ingested = service.ingest_unpublished(path, project_code, override, progress or (lambda stage, percent: None))
    with session_scope() as session:
        submission = ReviewSubmission(
            project_code=project_code,
            submitted_by=username,
            round=1,
            status="in_review",
            files={"ifc": [str(path)], "pdf": list(pdfs or [])},
            received_at=now,
        )
        session.add(submission)
        session.flush()
        submission_id = submission.id
    try:
        _review_round(submission_id, path, ingested, drawing_types, 1, now)
    except BaseException:
        with session_scope() as session:  # nothing half-written: the submission and its reviews go
            session.delete(session.get(ReviewSubmission, submission_id))
        raise
    return submission_document(submission_id, now)


def resubmit(
    submission_id: int,
    path: str | Path,
    username: str | None,
    now: datetime,
    pdfs: list[str] | None = None,
    override: Override | None = None,
) -> dict[str, Any]:
    """A corrected model for a returned submission: a new round for the agencies that returned it
    only; the agencies that passed it keep their decision."""
    with session_scope() as session:
        submission = session.get(ReviewSubmission, submission_id, with_for_update=True)
        if submission is None:
            raise NotFound(f"submission {submission_id} does not exist")
        if submission.status != "returned":
            raise service.Conflict(
                f"submission {submission_id} is {submission.status}: only a returned submission is resubmitted"
            )
        returned = [r.drawing_type for r in _current(session, submission_id).values() if r.status == "returned"]
        project_code, next_round = submission.project_code, submission.round + 1
    ingested = service.ingest_unpublished(path, project_code, override, lambda stage, percent: None)
    try:
        _review_round(submission_id, path, ingested, returned, next_round, now)
    except BaseException:
        with session_scope() as session:  # nothing half-written: the new round's reviews go
            session.execute(
                delete(DrawingReview).where(
                    DrawingReview.submission_id == submission_id, DrawingReview.round == next_round
                )
            )
        raise
    with session_scope() as session:
        submission = get_row(session, ReviewSubmission, submission_id, f"submission {submission_id} does not exist")
        submission.round, submission.status, submission.decided_at = next_round, "in_review", None
        files = dict(submission.files or {})
        files["ifc"] = [*files.get("ifc", []), str(path)]
        files["pdf"] = [*files.get("pdf", []), *(pdfs or [])]
        submission.files = files
        submission.submitted_by = username or submission.submitted_by
    return submission_document(submission_id, now)


def _review_round(
    submission_id: int,
    path: str | Path,
    ingested: dict[str, Any],
    drawing_types: list[str],
    round_no: int,
    now: datetime,
) -> None:
    """Open, check and write one review per drawing type (the model opened once for all)."""
    with session_scope() as session:
        submission = get_row(session, ReviewSubmission, submission_id, f"submission {submission_id} does not exist")
        project_code = submission.project_code
        routes = _routes(session, drawing_types)
    with open_ifc(Path(path)) as opened:
        for drawing_type in drawing_types:
            rule_set = rule_sets.rule_set(drawing_type)
            route = routes[drawing_type]
            spec = load_ids(rule_set.ids_path) if rule_set.ids_path else None
            report, issues = service.review_model(
                opened.file, ingested, project_code, rule_set, spec, None, lambda stage, percent: None
            )
            review_id = service.open_review(
                project_code,
                int(ingested["version_id"]),
                ingested["schema"],
                round_no=round_no,
                submission_id=submission_id,
                agency=route.agency_uscc,
                drawing_type=drawing_type,
                due_at=now + timedelta(days=route.due_days or rule_set.due_days),
                created_at=now,
            )
            service.close_review(review_id, report, issues)


def _current(session: Session, submission_id: int) -> dict[str, DrawingReview]:
    """Each drawing type's latest review of the submission."""
    reviews = session.scalars(
        select(DrawingReview).where(DrawingReview.submission_id == submission_id).order_by(DrawingReview.id)
    )
    return {r.drawing_type: r for r in reviews}


def decide(
    review_id: int, action: str, username: str | None, now: datetime, comment: str | None = None
) -> dict[str, Any]:
    """An agency's decision on its part of a submission (pass needs every error issue resolved or
    waived); the submission is returned when every agency has decided and one returned it, and
    passes (the model is published) when every agency passed."""
    if action not in service.DECISIONS:
        raise UserError(f"decision {action!r} is not one of: {', '.join(service.DECISIONS)}")
    with session_scope() as session:
        review = session.get(DrawingReview, review_id, with_for_update=True)
        if review is None or review.submission_id is None:
            raise NotFound(f"review {review_id} is no agency's part of a joint submission")
        if review.agency not in agencies_of(session, username):
            raise Forbidden(f"user {username!r} does not review for agency {review.agency}: only its reviewers decide")
        if review.status != "in_review":
            raise service.Conflict(f"review {review_id} is {review.status}; only a review in review can be decided")
        open_errors = session.scalar(
            select(func.count(ReviewIssue.id)).where(
                ReviewIssue.review_id == review_id, ReviewIssue.severity == rules.ERROR, ReviewIssue.resolved.is_(False)
            )
        )
        if action == "approve" and open_errors:
            raise service.Conflict(
                f"review {review_id} has {open_errors} open error issue(s): resolve or waive them, or return it"
            )
        agency = _agency(session, review.agency)
        seal.credentials(agency.uscc, agency.name)  # no decision the agency cannot seal
        review.status, review.decided_at = service.DECISIONS[action], now
        decision = {"action": action, "by": username, "at": now.isoformat(timespec="seconds"), "comment": comment}
        review.report = {**(review.report or {}), "decision": decision}
        session.flush()
        submission_id = review.submission_id
        states = {r.status for r in _current(session, submission_id).values()}
        submission = get_row(
            session, ReviewSubmission, submission_id, f"submission {submission_id} does not exist", lock=True
        )
        publish = None
        if "in_review" not in states:
            submission.status = "returned" if "returned" in states else "approved"
            submission.decided_at = now
            if submission.status == "approved":
                publish = review.model_version_id
                if publish is None:
                    raise service.Conflict(f"review {review_id}'s model version was deleted: nothing to publish")
                _publish(session, publish)
    sealed = seal_decision(submission_id, review_id, now)
    return submission_document(submission_id, now) | {"seal": sealed, "published_version": publish}


def sealed_paths(review_id: int) -> tuple[Path, Path]:
    """Where an agency decision's sealed PDF and its HTML report are kept."""
    folder = get_settings().data_dir / "reviews" / "sealed"
    return folder / f"review-{review_id}.pdf", folder / f"review-{review_id}.html"


def seal_decision(submission_id: int, review_id: int, now: datetime) -> dict[str, Any]:
    """The agency's decision as an HTML report and a PDF signed with the agency's certificate (the
    PDF names the HTML's SHA-256); the seal's facts go into the review's report."""
    document = submission_document(submission_id, now)
    part = next(p for p in document["agencies"] + document["history"] if p["review_id"] == review_id)
    review = service.review_document(review_id)
    html = review_html(review).encode("utf-8")
    html_sha256 = hashlib.sha256(html).hexdigest()
    name = part["agency_name"] or part["agency"]
    reason = f"{part['drawing_type_label']['zh']}审查意见 {part['decision']['action']}"
    pdf = seal.sign_pdf(decision_pdf(part, review, html_sha256), part["agency"], name, reason)
    pdf_path, html_path = sealed_paths(review_id)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_bytes(html)
    pdf_path.write_bytes(pdf)
    signature = seal.verify_pdf(pdf)["signatures"][0]
    facts = {
        "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
        "html_sha256": html_sha256,
        "signer": signature["signer"],
        "certificate_serial": signature["certificate_serial"],
        "issuer": signature["issuer"],
        "sealed_at": now.isoformat(timespec="seconds"),
    }
    with session_scope() as session:
        review_row = get_row(session, DrawingReview, review_id, f"review {review_id} does not exist")
        review_row.report = {**(review_row.report or {}), "seal": facts}
    return facts


def _publish(session: Session, version_id: int) -> None:
    version = get_row(session, BimModelVersion, version_id, f"model version {version_id} does not exist")
    session.execute(
        update(BimModelVersion)
        .where(BimModelVersion.model_id == version.model_id, BimModelVersion.status == "published")
        .values(status="withdrawn")
    )
    version.status = "published"


def unpublish(submission_id: int, version_id: int) -> None:
    """Undo a submission's approval whose publication failed: the version unpublished, the
    submission in review again."""
    with session_scope() as session:
        session.execute(update(BimModelVersion).where(BimModelVersion.id == version_id).values(status="ingested"))
        submission = get_row(session, ReviewSubmission, submission_id, f"submission {submission_id} does not exist")
        submission.status, submission.decided_at = "in_review", None


def agency_part(review: DrawingReview, names: dict[str, str], now: datetime) -> dict[str, Any]:
    rule_set = rule_sets.rule_set(review.drawing_type)
    report = review.report or {}
    return {
        "review_id": review.id,
        "drawing_type": review.drawing_type,
        "drawing_type_label": {"zh": rule_set.label_zh, "en": rule_set.label_en},
        "agency": review.agency,
        "agency_name": names.get(review.agency) if review.agency else None,
        "round": review.round,
        "status": review.status,
        "status_label": service.STATUS_LABELS[review.status],
        "received_at": review.created_at.isoformat() if review.created_at else None,
        "due_at": review.due_at.isoformat() if review.due_at else None,
        "overdue": review.status == "in_review" and review.due_at is not None and now > review.due_at,
        "decided_at": review.decided_at.isoformat() if review.decided_at else None,
        "passed_checks": report.get("passed"),
        "counts": report.get("counts"),
        "decision": report.get("decision"),
        "seal": report.get("seal"),
    }


def submission_document(submission_id: int, now: datetime) -> dict[str, Any]:
    """The submission with every agency's current part and the rounds before."""
    with session_scope() as session:
        submission = session.get(ReviewSubmission, submission_id)
        if submission is None:
            raise NotFound(f"submission {submission_id} does not exist")
        reviews = session.scalars(
            select(DrawingReview).where(DrawingReview.submission_id == submission_id).order_by(DrawingReview.id)
        ).all()
        names = dict(
            session.execute(
                select(Enterprise.uscc, Enterprise.name).where(Enterprise.uscc.in_({r.agency for r in reviews}))
            ).all()
        )
        current = {r.drawing_type: r for r in reviews}  # each drawing type's latest
        parts = [agency_part(r, names, now) for r in current.values()]
        return {
            "id": submission.id,
            "project_code": submission.project_code,
            "submitted_by": submission.submitted_by,
            "round": submission.round,
            "status": submission.status,
            "status_label": STATUS_LABELS[submission.status],
            "received_at": submission.received_at.isoformat(),
            "decided_at": submission.decided_at.isoformat() if submission.decided_at else None,
            "files": {k: [Path(f).name for f in v] for k, v in (submission.files or {}).items()},
            "agencies": parts,
            "overdue_agencies": [p["agency"] for p in parts if p["overdue"]],
            "history": [agency_part(r, names, now) for r in reviews if current[r.drawing_type] is not r],
        }


def queue(username: str | None, now: datetime, status: str | None = "in_review") -> list[dict[str, Any]]:
    """The agency parts waiting for the user's agencies (only theirs), the most urgent first."""
    with session_scope() as session:
        agencies = agencies_of(session, username)
        if not agencies:
            raise Forbidden(f"user {username!r} reviews for no agency: ask an administrator to add them to one")
        query = select(DrawingReview).where(
            DrawingReview.submission_id.is_not(None), DrawingReview.agency.in_(agencies)
        )
        if status:
            query = query.where(DrawingReview.status == status)
        reviews = session.scalars(query.order_by(DrawingReview.due_at, DrawingReview.id)).all()
        names = dict(
            session.execute(select(Enterprise.uscc, Enterprise.name).where(Enterprise.uscc.in_(agencies))).all()
        )
        return [
            agency_part(r, names, now) | {"submission_id": r.submission_id, "project_code": r.project_code}
            for r in reviews
        ]

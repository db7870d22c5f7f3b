"""Credit grading (信用分级分类监管): rulesets and their lifecycle, runs, scores with explanations and
history, manual reviews (two-person rule), alerts and their handling, the month's inspection plan,
statistics and the risk grid. The work is in ``credit/``; every write leaves an audit row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text

from core import jobs
from core.db import session_scope
from core.errors import NotFound, UserError
from core.models import CreditAlert, CreditReview, CreditRuleset, CreditRun, Enterprise
from credit import alerts, evidence, plans, reviews, rulesets, stats
from spatial_api import audit
from spatial_api.schemas.common import file_answer
from spatial_api.security import Principal, require_role

router = APIRouter(prefix="/credit", tags=["credit"])
READERS = ("credit", "planner")  # and admin
reader = require_role(*READERS)
writer = require_role("credit")
T = TypeVar("T")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RulesetOut(_Out):
    version: str
    name: str
    name_en: str | None
    status: str
    is_default: bool
    valid_from: date
    enterprise_types: list[str]
    thresholds: dict[str, float]
    proposed_by: str | None
    approved_by: str | None
    check_messages: list[str] | None
    activated_at: datetime | None


class RunOut(_Out):
    id: int
    ruleset_id: int
    scope: str
    as_of: date
    started_at: datetime
    finished_at: datetime | None
    enterprises: int
    username: str | None


class ScoreOut(BaseModel):
    run_id: int
    as_of: date
    ruleset_version: str
    total: float
    grade: str
    previous_grade: str | None
    families: dict[str, float]
    indicators: dict[str, dict[str, Any]]
    explanation: list[dict[str, Any]]


class HistoryPoint(BaseModel):
    graded_on: date
    grade: str
    score: float
    rules_version: str


class ReviewOut(_Out):
    id: int
    enterprise_uscc: str
    engine_grade: str | None
    proposed_grade: str
    reason: str
    proposed_by: str
    proposed_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None


class ScoreProfile(BaseModel):
    uscc: str
    name: str
    type: str
    grade: str | None
    score: float | None
    latest: ScoreOut | None
    history: list[HistoryPoint]
    reviews: list[ReviewOut]


class AlertOut(_Out):
    id: int
    kind: str
    kind_name: str
    kind_name_en: str
    level: str
    cause_key: str
    enterprise_uscc: str | None
    enterprise_name: str | None = None
    district: str | None = None
    message: str
    evidence: dict[str, Any]
    count: int
    status: str
    assignee: str | None
    due_on: date | None
    feedback: str | None
    reminders: int
    history: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class PlanItem(BaseModel):
    uscc: str
    name: str
    type: str
    district: str | None
    grade: str
    score: float | None
    routine: bool
    spot_check: bool
    measure: dict[str, Any]
    sites: list[str]
    ruleset_version: str


class Stats(BaseModel):
    distribution: list[dict[str, Any]]
    ranking: list[dict[str, Any]]
    trend: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


class DistrictRisk(BaseModel):
    district: str
    enterprises: int
    mean_risk: float
    high_risk: int


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]


class JobAccepted(BaseModel):
    job_id: str


class RunRequest(BaseModel):
    scope: Literal["all", "daily"] = "all"


class ReviewRequest(BaseModel):
    enterprise: str = Field(min_length=18, max_length=18)
    grade: Literal["A", "B", "C", "D"]
    reason: str = Field(min_length=1, max_length=2000)


class Decision(BaseModel):
    action: Literal["approve", "reject"]
    note: str | None = Field(None, max_length=2000)


class AlertStep(BaseModel):
    assignee: str | None = Field(None, max_length=64)
    due_on: date | None = None
    note: str | None = Field(None, max_length=4000)


def _audited(action: str, obj: str, principal: Principal, request: Request, work: Callable[[], T]) -> T:
    """Run a write and leave an audit row whether it succeeded or was refused."""
    try:
        result = work()
    except Exception:
        audit.record(action, obj, principal, request, "refused")
        raise
    audit.record(action, obj, principal, request)
    return result


def _alert_out(alert: CreditAlert, enterprise: Enterprise | None = None) -> AlertOut:
    zh, en = alerts.KINDS.get(alert.kind, (alert.kind, alert.kind))
    columns = {c.key: getattr(alert, c.key) for c in CreditAlert.__table__.columns}
    names = {"enterprise_name": enterprise.name, "district": enterprise.district} if enterprise else {}
    return AlertOut(**columns, **names, kind_name=zh, kind_name_en=en)


# -- rulesets ---------------------------------------------------------------------------------


@router.get("/rulesets")
def list_rulesets(principal: Principal = Depends(reader)) -> list[RulesetOut]:
    with session_scope() as session:
        rows = session.scalars(select(CreditRuleset).order_by(CreditRuleset.id))
        return [RulesetOut.model_validate(r) for r in rows]


@router.get("/rulesets/{version}")
def get_ruleset(version: str, principal: Principal = Depends(reader)) -> rulesets.Ruleset:
    """The ruleset as the document a bureau edits (the same as `cim credit ruleset export`)."""
    with session_scope() as session:
        return rulesets.document(session, version)


@router.post("/rulesets", status_code=201)
def load_ruleset(
    request: Request, document: dict[str, Any] = Body(...), principal: Principal = Depends(writer)
) -> RulesetOut:
    """Save a ruleset document as a draft (a draft of the same version is replaced)."""

    def work() -> RulesetOut:
        with session_scope() as session:
            return RulesetOut.model_validate(rulesets.store(session, rulesets.parse(document), principal.username))

    return _audited("credit.ruleset.load", f"ruleset:{document.get('version')}", principal, request, work)


@router.post("/rulesets/{version}/{action}")
def ruleset_step(
    version: str,
    action: Literal["check", "approve", "activate"],
    request: Request,
    principal: Principal = Depends(writer),
) -> RulesetOut:
    """Check a draft, approve a checked ruleset (not its proposer), activate an approved one."""

    def work() -> RulesetOut:
        with session_scope() as session:
            if action == "check":
                row = rulesets.check(session, version)
            elif action == "approve":
                row = rulesets.approve(session, version, principal.username or "")
            else:
                row = rulesets.activate(session, version)
            return RulesetOut.model_validate(row)

    return _audited(f"credit.ruleset.{action}", f"ruleset:{version}", principal, request, work)


# -- runs and scores --------------------------------------------------------------------------


@router.post("/runs", status_code=202)
def start_run(request: Request, body: RunRequest, principal: Principal = Depends(writer)) -> JobAccepted:
    """Score all enterprises (or the daily set: C/D and new events) as a job: `GET /jobs/{id}`."""
    job_id = _audited(
        "credit.run",
        f"scope:{body.scope}",
        principal,
        request,
        lambda: jobs.submit("credit.score", {"scope": body.scope, "username": principal.username}, principal.username),
    )
    return JobAccepted(job_id=str(job_id))


@router.get("/runs")
def list_runs(limit: int = Query(50, ge=1, le=500), principal: Principal = Depends(reader)) -> list[RunOut]:
    with session_scope() as session:
        rows = session.scalars(select(CreditRun).order_by(CreditRun.id.desc()).limit(limit))
        return [RunOut.model_validate(r) for r in rows]


@router.get("/scores/{uscc}")
def score_profile(uscc: str, principal: Principal = Depends(reader)) -> ScoreProfile:
    """The enterprise's grade, its latest score with the explanation, its grade history and reviews."""
    with session_scope() as session:
        enterprise = session.get(Enterprise, uscc)
        if enterprise is None:
            raise NotFound(f"no enterprise {uscc}")
        latest = (
            session.execute(
                text(
                    "SELECT s.*, r.as_of FROM credit_score s JOIN credit_run r ON r.id = s.run_id"
                    " WHERE s.enterprise_uscc = :u ORDER BY s.run_id DESC LIMIT 1"
                ),
                {"u": uscc},
            )
            .mappings()
            .first()
        )
        history = session.execute(
            text(
                "SELECT graded_on, grade, score, rules_version FROM credit_grade_history"
                " WHERE enterprise_uscc = :u ORDER BY graded_on, id"
            ),
            {"u": uscc},
        ).mappings()
        review_rows = session.scalars(
            select(CreditReview).where(CreditReview.enterprise_uscc == uscc).order_by(CreditReview.id)
        )
        return ScoreProfile(
            uscc=uscc,
            name=enterprise.name,
            type=enterprise.type,
            grade=enterprise.credit_grade,
            score=enterprise.credit_score,
            latest=ScoreOut.model_validate(dict(latest)) if latest else None,
            history=[HistoryPoint.model_validate(dict(h)) for h in history],
            reviews=[ReviewOut.model_validate(r) for r in review_rows],
        )


# -- manual review ----------------------------------------------------------------------------


@router.post("/reviews", status_code=201)
def propose_review(request: Request, body: ReviewRequest, principal: Principal = Depends(writer)) -> ReviewOut:
    """Propose a grade other than the engine's, with a reason; a second person decides."""

    def work() -> ReviewOut:
        with session_scope() as session:
            review = reviews.propose(session, body.enterprise, body.grade, body.reason, principal.username or "")
            return ReviewOut.model_validate(review)

    return _audited("credit.review.propose", f"enterprise:{body.enterprise}", principal, request, work)


@router.post("/reviews/{review_id}/decision")
def decide_review(
    review_id: int, body: Decision, request: Request, principal: Principal = Depends(writer)
) -> ReviewOut:
    """Approve or reject a proposed grade: never by the person who proposed it (403)."""

    def work() -> ReviewOut:
        with session_scope() as session:
            review = reviews.decide(session, review_id, body.action == "approve", principal.username or "", body.note)
            return ReviewOut.model_validate(review)

    return _audited(f"credit.review.{body.action}", f"credit_review:{review_id}", principal, request, work)


# -- alerts -----------------------------------------------------------------------------------


@router.get("/alerts")
def list_alerts(
    kind: str | None = None,
    status: str | None = None,
    level: str | None = None,
    enterprise: str | None = None,
    district: str | None = Query(None, description="the enterprise's district"),
    limit: int = Query(200, ge=1, le=2000),
    principal: Principal = Depends(reader),
) -> list[AlertOut]:
    """Alerts, newest first, filtered by kind, status, level, enterprise or district, with the
    enterprise's name and district."""
    query = (
        select(CreditAlert, Enterprise)
        .outerjoin(Enterprise, Enterprise.uscc == CreditAlert.enterprise_uscc)
        .order_by(CreditAlert.updated_at.desc(), CreditAlert.id.desc())
        .limit(limit)
    )
    for column, value in (
        (CreditAlert.kind, kind),
        (CreditAlert.status, status),
        (CreditAlert.level, level),
        (CreditAlert.enterprise_uscc, enterprise),
        (Enterprise.district, district),
    ):
        if value is not None:
            query = query.where(column == value)
    with session_scope() as session:
        return [_alert_out(a, e) for a, e in session.execute(query)]


@router.get("/alerts/{alert_id}/features")
def alert_features(alert_id: int, principal: Principal = Depends(reader)) -> FeatureCollection:
    """The alert's evidence on the map (CRS84): the enterprise, its sites, the features near them,
    located records, a cluster's centre; each with its ``ref``, ``role`` and map ``layer``."""
    with session_scope() as session:
        return FeatureCollection.model_validate(evidence.features(session, alert_id))


@router.post("/alerts/{alert_id}/{action}")
def alert_step(
    alert_id: int,
    action: Literal["review", "dispatch", "feedback", "close"],
    request: Request,
    body: AlertStep | None = None,
    principal: Principal = Depends(writer),
) -> AlertOut:
    """One step of an alert's handling: review → dispatch (assignee, due date) → feedback (note) → close."""
    step = body or AlertStep()

    def work() -> AlertOut:
        with session_scope() as session:
            alert = alerts.advance(
                session,
                alert_id,
                action,
                principal.username,
                assignee=step.assignee,
                due_on=step.due_on,
                note=step.note,
            )
            owner = session.get(Enterprise, alert.enterprise_uscc) if alert.enterprise_uscc else None
            return _alert_out(alert, owner)

    return _audited(f"credit.alert.{action}", f"credit_alert:{alert_id}", principal, request, work)


# -- supervision plan and statistics ----------------------------------------------------------


@router.get("/plans")
def month_plan(
    month: str = Query(..., description="YYYY-MM"), principal: Principal = Depends(reader)
) -> list[PlanItem]:
    """The month's inspection list from the grades and the active ruleset's measures."""
    with session_scope() as session:
        return [PlanItem.model_validate(item) for item in plans.month_plan(session, month)]


@router.get("/stats")
def statistics(limit: int = Query(20, ge=1, le=500), principal: Principal = Depends(reader)) -> Stats:
    """Grade distribution by type and district, the ranking, the monthly trend and alert handling."""
    with session_scope() as session:
        return Stats(
            distribution=stats.distribution(session),
            ranking=stats.ranking(session, limit),
            trend=stats.trend(session),
            alerts=stats.alert_handling(session),
        )


@router.get("/stats/hexagons")
def risk_hexagons(
    size: float = Query(500.0, ge=50, le=20000, description="hexagon edge in metres"),
    principal: Principal = Depends(reader),
) -> FeatureCollection:
    """The regional risk grid (mean risk A 0 … D 3 per hexagon) as GeoJSON in CRS84."""
    with session_scope() as session:
        return FeatureCollection.model_validate(stats.hexagons(session, size))


WEB_MERCATOR_WIDTH_M = 40_075_016.7
MAX_TILE_HEXAGONS = 200_000


@router.get(
    "/stats/hexagons/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses=file_answer("application/vnd.mapbox-vector-tile"),
)
def risk_hexagon_tile(
    z: int = Path(ge=0, le=22),
    x: int = Path(ge=0),
    y: int = Path(ge=0),
    size: float = Query(500.0, ge=50, le=20000),
    principal: Principal = Depends(reader),
) -> Response:
    """The risk grid as a Mapbox vector tile (layer ``credit_risk``)."""
    cells = (WEB_MERCATOR_WIDTH_M / 2**z / size) ** 2
    if cells > MAX_TILE_HEXAGONS:
        raise UserError(
            f"a tile at zoom {z} would hold ~{cells:.0f} hexagons of {size:g} m: zoom in or make them larger"
        )
    with session_scope() as session:
        data = stats.hexagon_tile(session, z, x, y, size)
    return Response(bytes(data or b""), media_type="application/vnd.mapbox-vector-tile")


@router.get("/stats/districts")
def district_risk(principal: Principal = Depends(reader)) -> list[DistrictRisk]:
    """Risk by district (mean risk A 0 … D 3, enterprises at C/D), highest first."""
    with session_scope() as session:
        return [DistrictRisk.model_validate(row) for row in stats.districts(session)]


@router.get("/stats/districts/map")
def district_risk_map(principal: Principal = Depends(reader)) -> FeatureCollection:
    """The districts with a loaded boundary coloured by risk: GeoJSON in CRS84."""
    with session_scope() as session:
        return FeatureCollection.model_validate(stats.district_map(session))


@router.get(
    "/stats/districts/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses=file_answer("application/vnd.mapbox-vector-tile"),
)
def district_risk_tile(
    z: int = Path(ge=0, le=22), x: int = Path(ge=0), y: int = Path(ge=0), principal: Principal = Depends(reader)
) -> Response:
    """The district risk map as a Mapbox vector tile (layer ``credit_district_risk``)."""
    with session_scope() as session:
        data = stats.district_tile(session, z, x, y)
    return Response(bytes(data or b""), media_type="application/vnd.mapbox-vector-tile")

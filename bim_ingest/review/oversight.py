"""Oversight of the joint review (动态监管审图过程和结果): every submission with its agencies, rounds,
time spent in each state and overdue agencies; the pass rate of every rule over all review runs;
the same as table rows (CSV, XLSX) and as GeoJSON (each submission's parcel, coloured by state)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bim_ingest.review import rule_sets, rules
from bim_ingest.review.submissions import AGENCY_TYPE, STATES, agency_part
from core.db import session_scope
from core.models import DrawingReview, Enterprise, Parcel, Project, ReviewIssue, ReviewSubmission

DAY_S = 86400.0


def state_days(received_at: datetime, reviews: list[DrawingReview], now: datetime) -> dict[str, float]:
    """Days the submission spent in each state: in review from each round's start until every
    agency current in that round has decided, then returned until the next round starts, or
    approved until now."""
    seconds = dict.fromkeys(STATES, 0.0)
    if not reviews:
        return seconds
    rounds = sorted({r.round for r in reviews})
    starts = {k: received_at if k == rounds[0] else min(r.created_at for r in reviews if r.round == k) for k in rounds}
    for position, k in enumerate(rounds):
        current: dict[str, DrawingReview] = {}
        for review in sorted(reviews, key=lambda r: (r.round, r.id)):
            if review.round <= k:
                current[review.drawing_type] = review
        decided = [r.decided_at for r in current.values()]
        end = None if any(d is None for d in decided) else max(d for d in decided if d is not None)
        seconds["in_review"] += max(0.0, ((end or now) - starts[k]).total_seconds())
        if end is None:
            break
        after = "returned" if any(r.status == "returned" for r in current.values()) else "approved"
        until = starts[rounds[position + 1]] if position + 1 < len(rounds) else now
        seconds[after] += max(0.0, (until - end).total_seconds())
    return {state: round(value / DAY_S, 3) for state, value in seconds.items()}


def _rule_checks(review: DrawingReview, failing: set[str]) -> list[tuple[str, bool]]:
    """(rule, passed) for every check a finished review run made."""
    report = review.report or {}
    checks = [
        (c["rule"], bool(c["passed"]))
        for c in [*report.get("ids", {}).get("specifications", []), *report.get("planning", {}).get("checks", [])]
        if c.get("passed") is not None
    ]
    rule_set = rule_sets.rule_set(review.drawing_type)
    clash_rules = [rules.CLASH_INTERNAL] if rule_set.model_clashes else []
    if rule_set.city_clashes and not (report.get("planning", {}).get("site") or {}).get("skipped"):
        clash_rules += [rules.CLASH_PIPELINE, rules.CLASH_TUNNEL]
    return checks + [(rule, rule not in failing) for rule in clash_rules]


def rule_pass_rates(session: Session, reviews: list[DrawingReview]) -> list[dict[str, Any]]:
    """Per rule: the review runs that checked it, how many passed it, the rate, and the drawing types."""
    finished = [r for r in reviews if r.report and r.status != "received"]
    failing: dict[int, set[str]] = {}
    for review_id, rule in session.execute(
        select(ReviewIssue.review_id, ReviewIssue.rule)
        .where(ReviewIssue.review_id.in_([r.id for r in finished]), ReviewIssue.severity == rules.ERROR)
        .group_by(ReviewIssue.review_id, ReviewIssue.rule)
    ):
        failing.setdefault(review_id, set()).add(rule)
    tally: dict[str, dict[str, Any]] = {}
    for review in finished:
        for rule, passed in _rule_checks(review, failing.get(review.id, set())):
            entry = tally.setdefault(rule, {"rule": rule, "checked": 0, "passed": 0, "drawing_types": set()})
            entry["checked"] += 1
            entry["passed"] += int(passed)
            entry["drawing_types"].add(review.drawing_type)
    return [
        entry
        | {"pass_rate": round(entry["passed"] / entry["checked"], 4), "drawing_types": sorted(entry["drawing_types"])}
        for entry in sorted(tally.values(), key=lambda e: (e["passed"] / e["checked"], e["rule"]))
    ]


def oversight(now: datetime) -> dict[str, Any]:
    """Every submission (newest first) with its agencies, rounds, days in each state and overdue
    agencies, and the pass rate of every rule."""
    with session_scope() as session:
        submissions = session.scalars(select(ReviewSubmission).order_by(ReviewSubmission.id.desc())).all()
        reviews = session.scalars(
            select(DrawingReview).where(DrawingReview.submission_id.is_not(None)).order_by(DrawingReview.id)
        ).all()
        agencies = select(Enterprise.uscc, Enterprise.name).where(Enterprise.type == AGENCY_TYPE)
        names: dict[str, str] = {uscc: name for uscc, name in session.execute(agencies)}
        projects = dict(
            session.execute(
                select(Project.code, Project.name).where(Project.code.in_({s.project_code for s in submissions}))
            ).all()
        )
        by_submission: dict[int, list[DrawingReview]] = {}
        for review in reviews:
            by_submission.setdefault(review.submission_id, []).append(review)  # type: ignore[arg-type]
        listed = []
        for submission in submissions:
            own = by_submission.get(submission.id, [])
            current = {r.drawing_type: r for r in own}
            parts = [agency_part(r, names, now) for r in current.values()]
            listed.append(
                {
                    "id": submission.id,
                    "project_code": submission.project_code,
                    "project_name": projects.get(submission.project_code),
                    "status": submission.status,
                    "status_label": {"zh": STATES[submission.status]["zh"], "en": STATES[submission.status]["en"]},
                    "round": submission.round,
                    "received_at": submission.received_at.isoformat(),
                    "decided_at": submission.decided_at.isoformat() if submission.decided_at else None,
                    "days_in_state": state_days(submission.received_at, own, now)
                    if own
                    else dict.fromkeys(STATES, 0.0),
                    "agencies": parts,
                    "overdue_agencies": [p["agency"] for p in parts if p["overdue"]],
                }
            )
        return {
            "generated_at": now.isoformat(timespec="seconds"),
            "states": STATES,
            "submissions": listed,
            "rules": rule_pass_rates(session, list(reviews)),
        }


PART_COLUMNS = (
    ("submission", "报审编号"),
    ("project_code", "项目编号"),
    ("project_name", "项目名称"),
    ("submission_status", "报审状态"),
    ("submission_round", "轮次"),
    ("days_in_review", "审查中天数"),
    ("days_returned", "退回修改天数"),
    ("days_approved", "通过后天数"),
    ("drawing_type", "图纸类型"),
    ("agency", "审查机构"),
    ("agency_name", "审查机构名称"),
    ("agency_round", "机构轮次"),
    ("agency_status", "机构审查状态"),
    ("received_at", "受理时间"),
    ("due_at", "到期时间"),
    ("overdue", "超期"),
    ("decided_at", "决定时间"),
)
RULE_COLUMNS = (
    ("rule", "规则"),
    ("drawing_types", "图纸类型"),
    ("checked", "审查次数"),
    ("passed", "通过次数"),
    ("pass_rate", "通过率"),
)


def part_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per agency part of every submission (the export's table)."""
    return [
        {
            "submission": s["id"],
            "project_code": s["project_code"],
            "project_name": s["project_name"],
            "submission_status": s["status_label"]["zh"],
            "submission_round": s["round"],
            "days_in_review": s["days_in_state"]["in_review"],
            "days_returned": s["days_in_state"]["returned"],
            "days_approved": s["days_in_state"]["approved"],
            "drawing_type": p["drawing_type_label"]["zh"],
            "agency": p["agency"],
            "agency_name": p["agency_name"],
            "agency_round": p["round"],
            "agency_status": p["status_label"],
            "received_at": p["received_at"],
            "due_at": p["due_at"],
            "overdue": "是" if p["overdue"] else "否",
            "decided_at": p["decided_at"],
        }
        for s in document["submissions"]
        for p in s["agencies"]
    ]


def _header(columns: tuple[tuple[str, str], ...]) -> list[str]:
    return [f"{zh} {key}" for key, zh in columns]


def oversight_csv(document: dict[str, Any]) -> bytes:
    """The agency parts as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_header(PART_COLUMNS))
    for row in part_rows(document):
        writer.writerow([row[key] for key, _ in PART_COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def oversight_xlsx(document: dict[str, Any]) -> bytes:
    """Two sheets: the agency parts, and the rules' pass rates."""
    book = Workbook()
    parts = book.active
    parts.title = "审查进度 progress"
    parts.append(_header(PART_COLUMNS))
    for row in part_rows(document):
        parts.append([row[key] for key, _ in PART_COLUMNS])
    rates = book.create_sheet("规则通过率 rules")
    rates.append(_header(RULE_COLUMNS))
    for rule in document["rules"]:
        rates.append([", ".join(rule[k]) if k == "drawing_types" else rule[k] for k, _ in RULE_COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def oversight_geojson(document: dict[str, Any]) -> dict[str, Any]:
    """Each submission at its project's footprint, else its parcel (CRS84), with its state and colour."""
    codes = {s["project_code"] for s in document["submissions"]}
    with session_scope() as session:
        shapes: dict[str, str] = dict(
            session.execute(
                select(
                    Project.code,
                    func.ST_AsGeoJSON(func.ST_Transform(func.coalesce(Project.footprint, Parcel.geom), 4326), 7),
                )
                .outerjoin(Parcel, Parcel.code == Project.parcel_code)
                .where(Project.code.in_(codes))
            ).all()
        )
    features = []
    for s in document["submissions"]:
        shape = shapes.get(s["project_code"])
        features.append(
            {
                "type": "Feature",
                "id": s["id"],
                "geometry": json.loads(shape) if shape else None,
                "properties": {
                    "submission": s["id"],
                    "project_code": s["project_code"],
                    "project_name": s["project_name"],
                    "status": s["status"],
                    "status_zh": s["status_label"]["zh"],
                    "status_en": s["status_label"]["en"],
                    "colour": STATES[s["status"]]["colour"],
                    "round": s["round"],
                    "overdue_agencies": len(s["overdue_agencies"]),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}

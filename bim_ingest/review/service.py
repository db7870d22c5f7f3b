"""The review workflow: submit (ingest unpublished, run every check, write the report), comment on
issues, and decide (approve publishes the model into the BIM layer and its tiles; return does not).

States (DOMAIN): received 受理 → in_review 审查中 → returned 退回修改 | approved 通过."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ifcopenshell
from ifctester import ids
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from bim_ingest.georef import Override
from bim_ingest.ingest import ingest_file
from bim_ingest.review import rule_sets, rules
from bim_ingest.review.clashes import clash_tree, internal_clashes, underground_clashes
from bim_ingest.review.information import check_information, load_ids
from bim_ingest.review.issues import Issue
from bim_ingest.review.model_file import building_global_id, centres
from bim_ingest.review.placement import placement_check
from bim_ingest.review.planning import planning_checks
from bim_ingest.source import open_ifc
from bim_ingest.store import diff_versions, previous_version_id
from bim_ingest.warning_summary import summarise
from core.db import get_row, session_scope
from core.errors import NotFound, UserError
from core.models import BimModelVersion, DrawingReview, Project, ReviewIssue

Progress = Callable[[str, float], None]
STATUS_LABELS = {"received": "受理", "in_review": "审查中", "returned": "退回修改", "approved": "通过"}
DECISIONS = {"approve": "approved", "return": "returned"}


class Conflict(UserError):
    status_code = 409


def check_project(project_code: str) -> None:
    with session_scope() as session:
        if session.get(Project, project_code) is None:
            raise NotFound(f"project {project_code!r} does not exist: give the code of a registered project")


def run_review(
    path: str | Path,
    project_code: str,
    ids_path: str | Path | None = None,
    override: Override | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ingest the IFC for the project without publishing it, run the building rule set (placement,
    IDS, planning, clash and diff checks; ``ids_path`` replaces its IDS), and write the review with
    its issues; returns the review document."""
    progress = progress or (lambda stage, percent: None)
    started = time.perf_counter()
    check_project(project_code)
    rule_set = rule_sets.rule_set(rule_sets.BUILDING)
    spec = load_ids(ids_path or rule_set.ids_path)
    ingested = ingest_unpublished(path, project_code, override, progress)
    review_id = open_review(project_code, int(ingested["version_id"]), ingested["schema"])
    with open_ifc(Path(path)) as opened:
        report, issues = review_model(opened.file, ingested, project_code, rule_set, spec, ids_path, progress)
    report["seconds"]["total"] = round(time.perf_counter() - started, 3)
    close_review(review_id, report, issues)
    progress("done", 100)
    return review_document(review_id)


def ingest_unpublished(
    path: str | Path, project_code: str, override: Override | None, progress: Progress
) -> dict[str, Any]:
    """The submitted model stored as a new, unpublished version of the project's model; the
    kernel's shapes also answer the in-model clash sets (``clash_sets``) on the way."""
    progress("ingest", 2)
    ingested = ingest_file(
        path,
        project_code=project_code,
        override=override,
        progress=lambda stage, percent: progress(f"ingest: {stage}", 2 + 0.4 * percent),
        tree=clash_tree,
    )
    ingested["clash_sets"] = ingested.pop("tree_answer")
    return ingested


def review_model(
    model: ifcopenshell.file,
    ingested: dict[str, Any],
    project_code: str,
    rule_set: rule_sets.RuleSet,
    spec: ids.Ids | None,
    ids_path: str | Path | None,
    progress: Progress,
) -> tuple[dict[str, Any], list[Issue]]:
    """Run a rule set on an ingested model: placement first (a model off its parcel gets one error
    and no checks that depend on its place), the IDS, and as the rule set says planning, city and
    model clashes; then the diff. Returns the report and the issues."""
    version_id = int(ingested["version_id"])
    georef = dict(ingested.get("georef") or {})
    warnings = georef.pop("warnings", [])
    seconds: dict[str, float] = {}

    def timed(stage: str, percent: float, check):
        progress(stage, percent)
        t0 = time.perf_counter()
        result = check()
        seconds[stage] = round(time.perf_counter() - t0, 3)
        return result

    building_id = building_global_id(model)
    with session_scope() as session:
        misplaced, placement = timed(
            "placement", 45, lambda: placement_check(session, version_id, project_code, building_id)
        )
    ids_issues, ids_summary = timed("ids", 50, lambda: check_information(model, spec)) if spec else ([], [])
    plan_issues, plan_checks, site = [], [], {}
    city_issues, city_summary, model_issues, model_summary = [], [], [], []
    with session_scope() as session:
        if misplaced is not None:  # the model's place is wrong: what depends on it would only be noise
            plan_issues, site = [misplaced], {"parcel": placement["parcel"], "skipped": True}
        elif rule_set.planning:
            plan_issues, plan_checks, site = timed(
                "planning", 55, lambda: planning_checks(session, version_id, project_code, building_id)
            )
        if misplaced is None and rule_set.city_clashes:
            city_issues, city_summary = timed("city clashes", 65, lambda: underground_clashes(session, version_id))
        diff = timed("diff", 70, lambda: version_diff(session, version_id))
    if rule_set.model_clashes:
        model_issues, model_summary = timed("model clashes", 75, lambda: internal_clashes(ingested["clash_sets"]))
    issues = ids_issues + plan_issues + city_issues + model_issues
    progress("viewpoints", 90)
    points = centres(model, {i.global_id for i in issues if i.global_id and "point_local" not in i.details})
    for issue in issues:
        if issue.global_id in points and "point_local" not in issue.details:
            issue.details["point_local"] = points[issue.global_id]
    source = ids_path or rule_set.ids_path
    report = {
        "drawing_type": rule_set.drawing_type,
        "ids": {
            "source": Path(source).name if spec and source else None,
            "title": spec.info.get("title") if spec else None,
            "specifications": ids_summary,
        },
        "planning": {"site": site, "checks": [placement, *plan_checks]},
        "clashes": {"model": model_summary, "city": city_summary},
        "diff": diff,
        "georef": georef | {"warnings": summarise(warnings)},
        "warnings": warnings,
        "counts": _counts(issues),
        "passed": not any(i.severity == rules.ERROR for i in issues),
        "seconds": seconds,
    }
    return report, issues


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """The short account of a finished review (its job's result, `cim review --json`)."""
    report = document["report"] or {}
    return {
        "review_id": document["id"],
        "project_code": document["project_code"],
        "model_version_id": document["model_version_id"],
        "round": document["round"],
        "status": document["status"],
        "passed": report.get("passed"),
        "counts": report.get("counts"),
        "planning": report.get("planning", {}).get("checks"),
        "diff": report.get("diff", {}).get("counts"),
        "seconds": report.get("seconds", {}).get("total"),
    }


def version_diff(session: Session, version_id: int) -> dict[str, Any]:
    """Elements added, removed and changed since the model's previous version (none for a first one)."""
    version = get_row(session, BimModelVersion, version_id)
    previous = previous_version_id(session, version.model_id, version.version_no)
    if previous is None:
        diff: dict[str, Any] = {"from_version_id": None, "to_version_id": version_id, "added": [], "removed": []}
        diff["changed"] = []
    else:
        diff = diff_versions(session, previous, version_id)
    return diff | {"counts": {k: len(diff[k]) for k in ("added", "removed", "changed")}}


def _counts(issues: list[Issue]) -> dict[str, Any]:
    severities = Counter(i.severity for i in issues)
    return {
        "issues": len(issues),
        "errors": severities[rules.ERROR],
        "warnings": severities[rules.WARNING],
        "elements": len({i.global_id for i in issues if i.global_id}),
        "by_rule": dict(sorted(Counter(i.rule for i in issues).items())),
    }


def open_review(project_code: str, version_id: int, schema: str, round_no: int | None = None, **fields: Any) -> int:
    """A new review of a model version, received; its round is the model's count of single reviews
    plus one unless given (a joint submission's round); ``fields`` are further DrawingReview columns."""
    with session_scope() as session:
        if round_no is None:
            version = get_row(session, BimModelVersion, version_id)
            round_no = (
                1
                + session.execute(
                    select(func.count(DrawingReview.id))
                    .join(BimModelVersion, BimModelVersion.id == DrawingReview.model_version_id)
                    .where(BimModelVersion.model_id == version.model_id, DrawingReview.submission_id.is_(None))
                ).scalar_one()
            )
        review = DrawingReview(
            project_code=project_code,
            model_version_id=version_id,
            schema=schema,
            round=round_no,
            status="received",
            **fields,
        )
        session.add(review)
        session.flush()
        return review.id


def close_review(review_id: int, report: dict[str, Any], issues: list[Issue]) -> None:
    """Write the issues and the report in one transaction; the review waits for a reviewer."""
    with session_scope() as session:
        session.add_all(
            ReviewIssue(
                review_id=review_id,
                global_id=i.global_id,
                rule=i.rule,
                severity=i.severity,
                measured=i.measured,
                limit=i.limit,
                message=i.message,
                details={**i.details, "ifc_class": i.ifc_class, "name": i.name, "unit": i.unit},
            )
            for i in issues
        )
        session.execute(
            update(DrawingReview).where(DrawingReview.id == review_id).values(report=report, status="in_review")
        )


def review_document(review_id: int, all_warnings: bool = False) -> dict[str, Any]:
    """The review as JSON: state, report and issues (with reviewers' comments). The model's
    warnings are summarised in ``report.georef.warnings``; ``all_warnings`` adds every line as
    ``report.warnings``."""
    with session_scope() as session:
        review = session.get(DrawingReview, review_id)
        if review is None:
            raise NotFound(f"review {review_id} does not exist")
        version = session.get(BimModelVersion, review.model_version_id) if review.model_version_id else None
        issues = session.scalars(
            select(ReviewIssue).where(ReviewIssue.review_id == review_id).order_by(ReviewIssue.id)
        ).all()
        return {
            "id": review.id,
            "project_code": review.project_code,
            "model_version_id": review.model_version_id,
            "model_id": version.model_id if version else None,
            "model_status": version.status if version else None,
            "file_name": version.file_name if version else None,
            "schema": review.schema,
            "round": review.round,
            "status": review.status,
            "status_label": STATUS_LABELS[review.status],
            "created_at": review.created_at.isoformat() if review.created_at else None,
            "decided_at": review.decided_at.isoformat() if review.decided_at else None,
            "report": _report(review.report, all_warnings),
            "issues": [issue_json(i) for i in issues],
        }


def _report(report: dict[str, Any] | None, all_warnings: bool) -> dict[str, Any] | None:
    if report is None or all_warnings:
        return report
    return {k: v for k, v in report.items() if k != "warnings"}


def issue_json(issue: ReviewIssue) -> dict[str, Any]:
    details = dict(issue.details or {})
    return {
        "id": issue.id,
        "rule": issue.rule,
        "severity": issue.severity,
        "global_id": issue.global_id,
        "ifc_class": details.pop("ifc_class", None),
        "name": details.pop("name", None),
        "measured": issue.measured,
        "limit": issue.limit,
        "unit": details.pop("unit", None),
        "message": issue.message,
        "comment": issue.comment,
        "resolved": issue.resolved,
        "comments": details.pop("comments", []),
        "details": details,
    }


def list_reviews(project_code: str | None = None, status: str | None = None, limit: int = 100) -> list[dict]:
    query = select(DrawingReview).order_by(DrawingReview.id.desc()).limit(limit)
    if project_code:
        query = query.where(DrawingReview.project_code == project_code)
    if status:
        query = query.where(DrawingReview.status == status)
    with session_scope() as session:
        return [
            {
                "id": r.id,
                "project_code": r.project_code,
                "model_version_id": r.model_version_id,
                "round": r.round,
                "status": r.status,
                "status_label": STATUS_LABELS[r.status],
                "passed": (r.report or {}).get("passed"),
                "counts": (r.report or {}).get("counts"),
            }
            for r in session.scalars(query)
        ]


def annotate_issue(
    review_id: int, issue_id: int, username: str | None, comment: str | None = None, resolved: bool | None = None
) -> dict[str, Any]:
    """A reviewer's comment on an issue, and/or marking it resolved (waived) or open again."""
    if comment is None and resolved is None:
        raise UserError("give a comment, resolved, or both")
    with session_scope() as session:
        issue = session.get(ReviewIssue, issue_id)
        if issue is None or issue.review_id != review_id:
            raise NotFound(f"review {review_id} has no issue {issue_id}")
        review = get_row(session, DrawingReview, review_id)
        if review.status != "in_review":
            raise Conflict(f"review {review_id} is {review.status}: issues can be commented only while in review")
        details = dict(issue.details or {})
        entry = {
            "by": username,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "text": comment,
            "resolved": resolved,
        }
        details["comments"] = [*details.get("comments", []), entry]
        issue.details = details
        if comment is not None:
            issue.comment = comment
        if resolved is not None:
            issue.resolved = resolved
        session.flush()
        return issue_json(issue)


def decide(review_id: int, action: str, username: str | None, comment: str | None = None) -> dict[str, Any]:
    """Approve (publish the model version, withdraw the model's earlier published versions) or
    return the review. Approval needs every error issue resolved; the job layer then rebuilds the
    ``bim`` tiles (and :func:`reopen` undoes the approval if that fails)."""
    if action not in DECISIONS:
        raise UserError(f"decision {action!r} is not one of: {', '.join(DECISIONS)}")
    with session_scope() as session:
        review = session.get(DrawingReview, review_id, with_for_update=True)
        if review is None:
            raise NotFound(f"review {review_id} does not exist")
        if review.status != "in_review":
            raise Conflict(f"review {review_id} is {review.status}; only a review in review can be decided")
        open_errors = session.scalar(
            select(func.count(ReviewIssue.id)).where(
                ReviewIssue.review_id == review_id, ReviewIssue.severity == rules.ERROR, ReviewIssue.resolved.is_(False)
            )
        )
        if action == "approve" and open_errors:
            raise Conflict(
                f"review {review_id} has {open_errors} open error issue(s): resolve or waive them "
                "(PATCH the issue with resolved=true and a comment) or return the model"
            )
        review.status = DECISIONS[action]
        review.decided_at = datetime.now(UTC)
        review.report = {
            **(review.report or {}),
            "decision": {
                "action": action,
                "by": username,
                "at": review.decided_at.isoformat(timespec="seconds"),
                "comment": comment,
            },
        }
        if action == "approve":
            version = get_row(session, BimModelVersion, review.model_version_id)
            session.execute(
                update(BimModelVersion)
                .where(BimModelVersion.model_id == version.model_id, BimModelVersion.status == "published")
                .values(status="withdrawn")
            )
            version.status = "published"
    return review_document(review_id)


def reopen(review_id: int) -> None:
    """Undo an approval whose publication failed: the version unpublished, the review in review again."""
    with session_scope() as session:
        review = get_row(session, DrawingReview, review_id)
        session.execute(
            text("UPDATE bim_model_version SET status = 'ingested' WHERE id = :v"), {"v": review.model_version_id}
        )
        review.status, review.decided_at = "in_review", None
        review.report = {k: v for k, v in (review.report or {}).items() if k != "decision"}

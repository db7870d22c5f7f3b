"""Background tasks of this package (registered with core.jobs.task)."""

from __future__ import annotations

from typing import Any

from bim_ingest.georef import Override
from core import jobs


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """What the job result and `cim review --json` say about a finished review."""
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
        "report": f"/api/v1/reviews/{document['id']}",
    }


def _work(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    from bim_ingest.review.service import run_review

    override = params.get("override")
    document = run_review(
        params["path"],
        params["project_code"],
        ids_path=params.get("ids_path"),
        override=Override(override["crs"], tuple(override["origin"]), override.get("rotation_deg", 0.0))
        if override
        else None,
        progress=progress,
    )
    return summary(document)


@jobs.task("review.run")
def review_run(job_id: str) -> None:
    """Ingest an uploaded IFC unpublished and review it (params: path, project_code, ids_path, override)."""
    jobs.run(job_id, _work)


def _submission_work(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    from datetime import datetime

    from bim_ingest.review import submissions

    now = datetime.fromisoformat(params["received_at"])
    if params.get("submission_id") is not None:
        document = submissions.resubmit(
            params["submission_id"], params["path"], params.get("username"), now, params.get("pdfs")
        )
    else:
        document = submissions.submit(
            params["path"], params["project_code"], params.get("username"), now, params.get("pdfs"), progress=progress
        )
    return {
        "submission_id": document["id"],
        "round": document["round"],
        "status": document["status"],
        "agencies": [{"drawing_type": a["drawing_type"], "review_id": a["review_id"]} for a in document["agencies"]],
        "submission": f"/api/v1/reviews/submissions/{document['id']}",
    }


@jobs.task("review.submission")
def review_submission(job_id: str) -> None:
    """Receive a joint review submission or a resubmission and route it to its agencies (params:
    path, project_code or submission_id, username, pdfs, received_at)."""
    jobs.run(job_id, _submission_work)

"""Work that spans packages, composed here so that none of them imports another: ingest a model
then tile and publish it (the demo's models too), review a model, approve a review then rebuild
the BIM layer. The queue
tasks that run them (``bim.ingest``, ``review.run``) and the API URLs in their answers live here."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bim_ingest.georef import Override
from bim_ingest.ingest import ingest_file
from bim_ingest.review import service as reviews
from bim_ingest.review import submissions
from bim_ingest.store import set_version_status
from core import jobs
from core.db import session_scope
from core.errors import UserError
from tiles.build import build_bim_version, build_layer
from tiles.sources import versioned_layer

log = logging.getLogger("cim.bim")

API = "/api/v1"
# the share of a published ingest's progress the ingest itself takes (the tiles take the rest)
INGEST_SHARE = 0.95


def tileset_url(version_id: int) -> str:
    return f"{API}/tiles/bim-{version_id}/tileset.json"


def job_url(job_id: object) -> str:
    return f"{API}/jobs/{job_id}"


def review_url(review_id: int) -> str:
    return f"{API}/reviews/{review_id}"


def ingest_and_publish(
    path: str | Path,
    project_code: str | None = None,
    override: Override | None = None,
    progress: jobs.Progress | None = None,
    publish: bool = True,
    *,
    model_name: str | None = None,
) -> dict[str, Any]:
    """Ingest a model as a new version, then (``publish``) build its tileset and publish it; the
    ingest's summary with the tileset's URL (None, with a warning saying why, when it has none)."""
    started = time.perf_counter()
    report = progress or (lambda stage, percent: None)
    share = INGEST_SHARE if publish else 1.0
    summary = ingest_file(
        path, project_code, override, lambda stage, percent: report(stage, share * percent), model_name=model_name
    )
    summary["tileset"] = None
    if not publish:
        return summary
    report("tiling", 100 * INGEST_SHARE)
    tiling = time.perf_counter()
    version_id = summary["version_id"]
    try:
        build_bim_version(version_id)
        summary["tileset"] = tileset_url(version_id)
    except Exception as exc:  # noqa: BLE001 - the model stays ingested, the summary says why it has no tiles
        log.exception("tiling version %s failed", version_id)
        summary["georef"]["warnings"].append(f"tiles not built: {type(exc).__name__}: {exc}")
    summary["timings_s"]["tiles"] = round(time.perf_counter() - tiling, 3)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    with session_scope() as session:
        status = "published" if summary["tileset"] else "ingested"
        set_version_status(session, version_id, status, summary["seconds"])
    report("done", 100)
    return summary


def publish_demo_models(
    count: int | None = None, progress: Callable[[int], None] | None = None
) -> list[dict[str, Any]]:
    """Author the demo's models (up to ``count``, one per project), ingest and publish each;
    returns their ingest summaries with their project and parcel."""
    from sample_models.demo_models import DESIGNS, author_demo_models

    published = []
    for model in author_demo_models(len(DESIGNS) if count is None else count):
        summary = ingest_and_publish(model["path"], model["project_code"], model_name=model["model_name"])
        published.append(summary | {"project_code": model["project_code"], "parcel": model["parcel"]})
        if progress:
            progress(1)
    return published


def review_result(document: dict[str, Any]) -> dict[str, Any]:
    """What the ``review.run`` job and ``cim review --json`` say about a finished review."""
    return reviews.summary(document) | {"report": review_url(document["id"])}


def decide_review(review_id: int, action: str, username: str | None, comment: str | None = None) -> dict[str, Any]:
    """Decide a review; an approval rebuilds the city's BIM layer, and if that fails the approval is
    undone so that layer and state agree."""
    document = reviews.decide(review_id, action, username, comment)
    if action != "approve":
        return document
    try:
        document["tiles"] = build_layer(versioned_layer().name)
    except Exception as exc:
        reviews.reopen(review_id)
        raise UserError(f"the BIM tiles could not be rebuilt ({exc}); the review stays in review, try again") from exc
    return document


def decide_submission(
    review_id: int, action: str, username: str | None, now: datetime, comment: str | None = None
) -> dict[str, Any]:
    """An agency's decision on its part of a joint submission; when it completes the submission's
    approval, the city's BIM layer is rebuilt, and if that fails the approval is undone."""
    document = submissions.decide(review_id, action, username, now, comment)
    version_id = document.get("published_version")
    if version_id is None:
        return document
    try:
        document["tiles"] = build_layer(versioned_layer().name)
    except Exception as exc:
        submissions.unpublish(document["id"], version_id)
        raise UserError(f"the BIM tiles could not be rebuilt ({exc}); try the last decision again") from exc
    return document


def _ingest(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    path = Path(params["path"])
    try:
        return ingest_and_publish(
            path,
            project_code=params.get("project_code"),
            override=Override.from_params(params.get("override")),
            progress=progress,
            publish=params.get("publish", True),
            model_name=params.get("model_name"),
        )
    finally:
        path.unlink(missing_ok=True)


@jobs.task("bim.ingest")
def ingest_task(job_id: str) -> None:
    """Ingest an uploaded IFC file, tile and publish it (params: path, project_code, override, model_name, publish)."""
    jobs.run(job_id, _ingest)


def _review(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    document = reviews.run_review(
        params["path"],
        params["project_code"],
        ids_path=params.get("ids_path"),
        override=Override.from_params(params.get("override")),
        progress=progress,
    )
    return review_result(document)


@jobs.task("review.run")
def review_task(job_id: str) -> None:
    """Ingest an uploaded IFC unpublished and review it (params: path, project_code, ids_path, override)."""
    jobs.run(job_id, _review)


def _submission(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
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
        "submission": f"{API}/reviews/submissions/{document['id']}",
    }


@jobs.task("review.submission")
def submission_task(job_id: str) -> None:
    """Receive a joint review submission or a resubmission and route it to its agencies (params:
    path, project_code or submission_id, username, pdfs, received_at)."""
    jobs.run(job_id, _submission)

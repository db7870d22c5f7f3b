"""Job progress."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from core.db import session_scope
from core.errors import NotFound
from core.models import Job
from spatial_api.schemas.jobs import Job as JobAnswer

router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobAnswer)
def get_job(job_id: str) -> dict[str, Any]:
    """A job's status (queued, running, succeeded, failed), stage, percent, error and result."""
    try:
        key = uuid.UUID(job_id)
    except ValueError as exc:
        raise NotFound(f"job {job_id} does not exist (not a job id)") from exc
    with session_scope() as session:
        job = session.get(Job, key)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return {
            "id": str(job.id),
            "kind": job.kind,
            "status": job.status,
            "stage": job.stage,
            "percent": job.percent,
            "error": job.error,
            "result": job.result,
            "created_at": job.created_at.isoformat(),
            "updated_at": job.updated_at.isoformat(),
        }

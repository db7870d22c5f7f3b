"""Job progress."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from core import jobs

router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}")
def get_job(job_id: str) -> dict[str, Any]:
    """A job's status (queued, running, succeeded, failed), stage, percent, error and result."""
    job = jobs.find(job_id)
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

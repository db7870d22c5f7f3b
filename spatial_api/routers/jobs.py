"""Job progress, for the job's owner and admins (never its parameters: paths, SQL, personal data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from core import jobs
from spatial_api.schemas.jobs import Job as JobAnswer
from spatial_api.security import Principal, current_principal, unauthorized

router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobAnswer)
def get_job(job_id: str, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    """A job's status (queued, running, succeeded, failed), stage, percent, error and result."""
    if principal.username is None:
        raise unauthorized("log in to follow your jobs")
    job = jobs.find(job_id)
    if principal.role != "admin" and job.username != principal.username:
        raise HTTPException(403, "this job is another user's: only its owner and admins may follow it")
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

"""Background tasks of this package (registered with core.jobs.task)."""

from __future__ import annotations

from core import jobs
from exports.run import export


@jobs.task("exports.run")
def run(job_id: str) -> None:
    """Write an export file (params: query, format, personal)."""
    jobs.run(job_id, export)

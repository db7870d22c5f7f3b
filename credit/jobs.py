"""Queue tasks: re-score one enterprise on an event (deferred by the database triggers of
migration 0006, so any writer causes it), and the scheduled full and daily runs."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

from core import jobs
from core.db import session_scope
from credit import service


def _rescore(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    with session_scope() as session:
        result = service.rescore_events(session, params["events"])
        session.execute(
            text(
                "UPDATE credit_rescore_request SET done_at = now()"
                " WHERE enterprise_uscc = ANY(:usccs) AND done_at IS NULL AND requested_at <= now()"
            ),
            {"usccs": sorted({e[0] for e in params["events"]})},
        )
    return result


@jobs.task("credit.rescore")
def rescore(job_id: str) -> None:
    """Re-score the enterprises a statement's events touched and raise the alerts they cause."""
    jobs.run(job_id, _rescore)


def _full(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    progress("scoring", 10)
    with session_scope() as session:
        return service.run(
            session, scope=params.get("scope", "all"), as_of=date.today(), username=params.get("username")
        )


@jobs.task("credit.score")
def score(job_id: str) -> None:
    """A full (``scope: all``, monthly) or daily (``scope: daily``: C/D and new events) run, then the scans."""
    jobs.run(job_id, _full)


# Every enterprise at least monthly; high-risk ones (C/D) and those with new events daily.
jobs.schedule("credit-monthly", "credit.score", "0 2 1 * *", {"scope": "all"})
jobs.schedule("credit-daily", "credit.score", "30 2 * * *", {"scope": "daily"})

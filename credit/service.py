"""What the CLI, the API and the queue call: scoring runs with their alert scans, and re-scoring on
an event."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from credit import alerts, engine, rulesets

SCOPES = ("all", "daily", "enterprise", "event")


def daily_targets(session: Session) -> list[str]:
    """High-risk enterprises (C/D) and those with re-score requests in the last day."""
    rows = session.execute(
        text(
            "SELECT uscc FROM enterprise WHERE credit_grade IN ('C', 'D')"
            " UNION SELECT enterprise_uscc FROM credit_rescore_request WHERE requested_at > now() - interval '1 day'"
        )
    )
    return [r[0] for r in rows]


def settings_in_force(session: Session) -> rulesets.RulesetSettings:
    """The alert settings and measures of the active ruleset (defaults when none is active)."""
    active = rulesets.active(session)
    return rulesets.RulesetSettings.model_validate(active[0].settings) if active else rulesets.RulesetSettings()


def run(
    session: Session,
    *,
    scope: str = "all",
    as_of: date | None = None,
    enterprises: list[str] | None = None,
    username: str | None = None,
) -> dict[str, Any]:
    """Score (all, the daily set, or the given enterprises), then scan for city-wide alerts."""
    as_of = as_of or date.today()
    if scope == "daily":
        enterprises = daily_targets(session)
    summaries = engine.score(session, enterprises=enterprises, as_of=as_of, scope=scope, username=username)
    settings = settings_in_force(session)
    scanned = alerts.scan(session, settings, as_of)
    reminded = alerts.remind_overdue(session, as_of)
    return {"runs": [asdict(s) for s in summaries], "alerts": scanned, "reminders": reminded}


def rescore_events(session: Session, events: list[list[str]]) -> dict[str, Any]:
    """Re-score the enterprises of events ``[uscc, cause, cause id]`` and raise the events' own alerts."""
    summaries = engine.score(session, enterprises=sorted({e[0] for e in events}), scope="event")
    raised = alerts.on_events(session, events)
    return {"runs": [asdict(s) for s in summaries], "event_alerts": raised}

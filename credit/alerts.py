"""Early warning: the alert rules (set-based SQL), merging by cause, and the handling lifecycle
generated → reviewed → dispatched → feedback → closed, with reminders (督办) when overdue.

An open alert is unique by its ``cause_key``; a repeat of the same cause merges its evidence into
it and counts once more (only when it brings new evidence)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, func, text
from sqlalchemy.orm import Session

from core import vocab
from core.errors import NotFound, UserError
from core.models import CreditAlert
from core.models.credit import ALERT_LEVELS
from credit.aggregates import KINDS as AGGREGATES

# action → (from status, to status)
TRANSITIONS = {
    "review": ("generated", "reviewed"),
    "dispatch": ("reviewed", "dispatched"),
    "feedback": ("dispatched", "feedback"),
    "close": ("feedback", "closed"),
}
KINDS = {t.code: (t.label.zh, t.label.en) for t in vocab.get("credit_alert_kinds").entries}
SIGNED_KINDS = [name for name, kind in AGGREGATES.items() if kind.signed]
_LEVELS = "ARRAY[" + ", ".join(f"'{level}'" for level in ALERT_LEVELS) + "]"

_UPSERT = f"""
INSERT INTO credit_alert (kind, level, cause_key, enterprise_uscc, message, evidence, count, status, reminders, history)
SELECT kind, level, cause_key, uscc, message, evidence, 1, 'generated', 0,
       jsonb_build_array(jsonb_build_object('at', now(), 'action', 'generated'))
FROM ({{select}}) AS fired
ON CONFLICT (cause_key) WHERE status <> 'closed' DO UPDATE SET
    count = credit_alert.count + CASE WHEN credit_alert.evidence @> EXCLUDED.evidence THEN 0 ELSE 1 END,
    evidence = credit_alert.evidence || EXCLUDED.evidence || jsonb_build_object(
        'records', (SELECT coalesce(jsonb_agg(DISTINCT r), '[]') FROM jsonb_array_elements(
            coalesce(credit_alert.evidence -> 'records', '[]') || coalesce(EXCLUDED.evidence -> 'records', '[]')) r),
        'features', (SELECT coalesce(jsonb_agg(DISTINCT f), '[]') FROM jsonb_array_elements(
            coalesce(credit_alert.evidence -> 'features', '[]') || coalesce(EXCLUDED.evidence -> 'features', '[]')) f)),
    level = CASE WHEN array_position({_LEVELS}, EXCLUDED.level) > array_position({_LEVELS}, credit_alert.level)
                 THEN EXCLUDED.level ELSE credit_alert.level END,
    message = EXCLUDED.message,
    updated_at = now()
RETURNING id
"""


def fire(session: Session, select: str, params: dict[str, Any]) -> list[int]:
    """Raise (or merge) the alerts a SELECT of (kind, level, cause_key, uscc, message, evidence) yields."""
    return [r[0] for r in session.execute(text(_UPSERT.format(select=select)), params)]


def after_run(session: Session, run_id: int, settings) -> list[str]:
    """Grade-drop and key-indicator-surge alerts of a scoring run; returns the enterprises that dropped."""
    dropped = fire(
        session,
        """SELECT 'grade_dropped' AS kind,
                  CASE grade WHEN 'D' THEN 'red' WHEN 'C' THEN 'orange' ELSE 'yellow' END AS level,
                  'grade_dropped:' || enterprise_uscc AS cause_key, enterprise_uscc AS uscc,
                  '信用等级由' || previous_grade || '降为' || grade || ' / grade dropped from '
                      || previous_grade || ' to ' || grade AS message,
                  jsonb_build_object('records', coalesce((SELECT jsonb_agg(DISTINCT r)
                          FROM jsonb_array_elements(explanation) x, jsonb_array_elements(x -> 'records') r), '[]'),
                      'runs', jsonb_build_array(run_id),
                      'grades', jsonb_build_array(previous_grade, grade)) AS evidence
           FROM credit_score WHERE run_id = :run AND previous_grade IS NOT NULL AND grade > previous_grade""",
        {"run": run_id},
    )
    fire(
        session,
        """SELECT 'indicator_surge' AS kind, 'orange' AS level,
                  'indicator_surge:' || cur.enterprise_uscc || ':' || i.code AS cause_key, cur.enterprise_uscc AS uscc,
                  i.name || '突增 / ' || i.name_en || ' surged: ' || (prev.indicators -> i.code ->> 'value')
                      || ' → ' || (cur.indicators -> i.code ->> 'value') AS message,
                  jsonb_build_object('records', coalesce(cur.indicators -> i.code -> 'records', '[]'),
                                     'indicator', i.code) AS evidence
           FROM credit_score cur
           JOIN credit_run r ON r.id = cur.run_id
           CROSS JOIN LATERAL (SELECT p.indicators FROM credit_score p
                               WHERE p.enterprise_uscc = cur.enterprise_uscc AND p.run_id < cur.run_id
                               ORDER BY p.run_id DESC LIMIT 1) prev
           JOIN credit_indicator i ON i.ruleset_id = r.ruleset_id AND i.key AND i.enabled
           WHERE cur.run_id = :run AND (cur.indicators -> i.code ->> 'value')::float
                 - coalesce((prev.indicators -> i.code ->> 'value')::float, 0) >= :surge
             -- an indicator that is never negative surges only where its value reaches the surge
             -- itself: only those rows look up their previous score
             AND ((cur.indicators -> i.code ->> 'value')::float >= :surge OR i.aggregate ->> 'kind' = ANY(:signed))""",
        {"run": run_id, "surge": settings.alerts.surge_min_increase, "signed": SIGNED_KINDS},
    )
    if not dropped:
        return []
    rows = session.execute(text("SELECT enterprise_uscc FROM credit_alert WHERE id = ANY(:ids)"), {"ids": dropped})
    return [r[0] for r in rows]


def on_events(session: Session, events: list[list[str]]) -> list[int]:
    """The alerts events themselves raise: new penalties and failed inspections (one per enterprise and kind)."""
    return fire(
        session,
        """SELECT kind, 'orange' AS level, kind || ':' || uscc AS cause_key, uscc,
                  CASE kind WHEN 'new_penalty' THEN :penalty ELSE :inspection END AS message,
                  jsonb_build_object('records', jsonb_agg(source || ':' || id ORDER BY id)) AS evidence
           FROM (SELECT e ->> 0 AS uscc, e ->> 2 AS id,
                        CASE e ->> 1 WHEN 'penalty' THEN 'new_penalty' ELSE 'failed_inspection' END AS kind,
                        CASE e ->> 1 WHEN 'penalty' THEN 'penalty' ELSE 'inspection' END AS source
                 FROM jsonb_array_elements(CAST(:events AS jsonb)) e
                 WHERE e ->> 1 IN ('penalty', 'inspection_fail')) ev
           GROUP BY kind, uscc""",
        {
            "events": json.dumps(events),
            "penalty": " / ".join(KINDS["new_penalty"]),
            "inspection": " / ".join(KINDS["failed_inspection"]),
        },
    )


def scan(session: Session, settings, as_of: date) -> dict[str, int]:
    """City-wide rules: complaint clusters, C/D contractors on sensitive sites, repair anomalies."""
    a = settings.alerts
    fired = {
        "complaint_cluster": fire(
            session,
            """WITH recent AS (
                   SELECT id, location, target_kind, target_id,
                          ST_ClusterDBSCAN(location, eps := :eps, minpoints := :minpoints) OVER () AS cluster
                   FROM complaint
                   WHERE location IS NOT NULL AND received_at::date <= :as_of
                     AND received_at::date > :as_of - :window)
               SELECT 'complaint_cluster' AS kind,
                      CASE WHEN count(*) >= 2 * :minpoints THEN 'red' ELSE 'orange' END AS level,
                      'complaint_cluster:' || min(id) AS cause_key,
                      mode() WITHIN GROUP (ORDER BY CASE target_kind WHEN 'enterprise' THEN target_id
                          ELSE (SELECT contractor_uscc FROM project WHERE code = target_id) END) AS uscc,
                      count(*) || '件投诉聚集 / ' || count(*) || ' complaints clustered' AS message,
                      jsonb_build_object('records', jsonb_agg('complaint:' || id ORDER BY id),
                          'centre', ST_AsGeoJSON(ST_Transform(ST_Centroid(ST_Collect(location)), 4326))::jsonb
                      ) AS evidence
               FROM recent WHERE cluster IS NOT NULL GROUP BY cluster""",
            {
                "eps": a.cluster_eps_m,
                "minpoints": a.cluster_min_points,
                "as_of": as_of,
                "window": a.cluster_window_days,
            },
        ),
        "site_risk": fire(
            session,
            """WITH sites AS (
                   SELECT p.code, p.footprint, p.hazardous_works, e.uscc, e.credit_grade FROM project p
                   JOIN enterprise e ON e.uscc = p.contractor_uscc
                   WHERE p.stage = 'construction' AND e.credit_grade IN ('C', 'D')),
               near AS (
                   SELECT s.code, s.uscc, s.credit_grade, s.hazardous_works,
                          (SELECT jsonb_agg('pipeline:' || l.id) FROM pipeline l WHERE l.utility = 'gas'
                              AND ST_DWithin(l.geom, s.footprint, :distance)) AS gas,
                          (SELECT jsonb_agg('utility_tunnel:' || t.id) FROM utility_tunnel t
                              WHERE ST_DWithin(t.axis, s.footprint, :distance)) AS tunnels
                   FROM sites s)
               SELECT 'site_risk' AS kind, CASE credit_grade WHEN 'D' THEN 'red' ELSE 'orange' END AS level,
                      'site_risk:' || code || ':' || uscc AS cause_key, uscc,
                      credit_grade || '级施工企业在' || concat_ws('、',
                          CASE WHEN gas IS NOT NULL THEN '燃气管道附近' END,
                          CASE WHEN tunnels IS NOT NULL THEN '综合管廊附近' END,
                          CASE WHEN hazardous_works THEN '危大工程' END) || '施工 / grade ' || credit_grade
                          || ' contractor on a sensitive site' AS message,
                      jsonb_build_object('records', jsonb_build_array('project:' || code),
                          'features', coalesce(gas, '[]') || coalesce(tunnels, '[]'),
                          'hazardous_works', hazardous_works) AS evidence
               FROM near WHERE gas IS NOT NULL OR tunnels IS NOT NULL OR hazardous_works""",
            {"distance": a.site_distance_m},
        ),
        "repair": fire(
            session,
            """SELECT CASE WHEN status = 'rejected' THEN 'repair_failed' ELSE 'repair_overdue' END AS kind,
                      'yellow' AS level, 'repair:' || id AS cause_key, enterprise_uscc AS uscc,
                      CASE WHEN status = 'rejected' THEN '信用修复未通过 / credit repair rejected'
                           ELSE '信用修复逾期 / credit repair overdue' END AS message,
                      jsonb_build_object('records', jsonb_build_array('credit_repair:' || id)) AS evidence
               FROM credit_repair
               WHERE status = 'rejected' OR (status IN ('applied', 'approved') AND due_on < :as_of)""",
            {"as_of": as_of},
        ),
    }
    return {kind: len(ids) for kind, ids in fired.items()}


def advance(
    session: Session,
    alert_id: int,
    action: str,
    username: str | None,
    *,
    assignee: str | None = None,
    due_on: date | None = None,
    note: str | None = None,
    dispatch_days: int = 7,
) -> CreditAlert:
    """Move an alert one step along its lifecycle (the step's person and note go into its history)."""
    if action not in TRANSITIONS:
        raise UserError(f"unknown action {action!r}; one of {', '.join(TRANSITIONS)}")
    alert = session.get(CreditAlert, alert_id, with_for_update=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    before, after = TRANSITIONS[action]
    if alert.status != before:
        raise UserError(f"alert {alert_id} is {alert.status}; '{action}' needs it {before}")
    if action == "dispatch":
        if not assignee:
            raise UserError("dispatch needs an assignee (a role or a person)")
        alert.assignee, alert.due_on = assignee, due_on or date.today() + timedelta(days=dispatch_days)
    if action == "feedback":
        if not note:
            raise UserError("feedback needs a note saying what was done")
        alert.feedback = note
    if action == "close":
        alert.closed_at = func.now()
    alert.status = after
    alert.history = [*alert.history, {"action": action, "by": username, "note": note, "assignee": assignee}]
    alert.updated_at = func.now()
    session.flush()
    return alert


def remind_overdue(session: Session, today: date) -> int:
    """One reminder (督办) a day for each dispatched alert past its due date; returns how many."""
    result = cast(
        CursorResult[Any],  # an UPDATE's result (SQLAlchemy types Session.execute as a plain Result)
        session.execute(
            text(
                """UPDATE credit_alert SET reminders = reminders + 1, updated_at = now(),
                   history = history || CAST(:mark AS jsonb)
               WHERE status = 'dispatched' AND due_on < :today AND NOT history @> CAST(:mark AS jsonb)"""
            ),
            {"today": today, "mark": json.dumps([{"action": "remind", "on": today.isoformat()}])},
        ),
    )
    return result.rowcount or 0

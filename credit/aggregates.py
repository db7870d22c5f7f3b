"""The fixed library of aggregate kinds an indicator may declare. Each kind reads one source table
and becomes ONE set-based statement over all target enterprises (the temporary table
``credit_targets``), returning per enterprise a value and the records behind it (evidence).

A ruleset names a kind and its parameters; it cannot carry SQL of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import UserError

# SQL snippets below only ever receive values through bind parameters.
Params = dict[str, Any]
ACTIVE_STAGES = ["preparation", "construction"]  # a project in these stages is an active site


@dataclass(frozen=True)
class Kind:
    """An aggregate kind: its source table, its parameters with defaults, its SQL (None: computed
    by the engine from the other indicators' values, as the model probability is) and whether its
    values may be negative (all others are counts, sums of magnitudes, shares or days, never below 0)."""

    source: str
    meaning: str
    defaults: Params
    sql: Callable[[Params], str] | None
    signed: bool = False


def _bad_or_good(kind: str) -> Callable[[Params], str]:
    def sql(p: Params) -> str:
        decay = (
            "CASE WHEN valid_to IS NULL OR valid_to <= decided_on THEN 1.0"
            " ELSE greatest(0.0, least(1.0, (valid_to - :as_of)::float / (valid_to - decided_on))) END"
        )
        weight = decay if p["decay"] == "validity" else "1.0"
        amount = "abs(score_impact)" if p["measure"] == "impact" else "1.0"
        return f"""
            SELECT subject_id AS uscc, sum({weight} * {amount}) AS value,
                   array_agg('credit_record:' || id ORDER BY decided_on DESC) AS evidence
            FROM credit_record
            WHERE subject_kind = 'enterprise' AND kind = '{kind}' AND subject_id IN (SELECT uscc FROM credit_targets)
              AND abs(score_impact) >= :min_impact
              AND decided_on <= :as_of AND decided_on > :as_of - :window_days
              AND (valid_to IS NULL OR valid_to > :as_of)
            GROUP BY subject_id"""

    return sql


def _penalties(p: Params) -> str:
    return """
        SELECT subject_id AS uscc, count(*)::float AS value,
               array_agg('penalty:' || decision_no ORDER BY decided_on DESC) AS evidence
        FROM penalty
        WHERE subject_kind = 'enterprise' AND subject_id IN (SELECT uscc FROM credit_targets)
          AND coalesce(amount_cny, 0) >= :min_amount
          AND decided_on <= :as_of AND decided_on > :as_of - :window_days
        GROUP BY subject_id"""


def _inspection_share(p: Params) -> str:
    return """
        SELECT enterprise_uscc AS uscc,
               (count(*) FILTER (WHERE result = ANY(:results)))::float / count(*) AS value,
               array_agg('inspection:' || inspection_no ORDER BY inspected_on DESC)
                   FILTER (WHERE result = ANY(:results)) AS evidence
        FROM inspection
        WHERE enterprise_uscc IN (SELECT uscc FROM credit_targets)
          AND inspected_on <= :as_of AND inspected_on > :as_of - :window_days
        GROUP BY enterprise_uscc"""


def _inspection_count(p: Params) -> str:
    ordered = "AND rectify_order" if p["rectify_order"] else ""
    return f"""
        SELECT enterprise_uscc AS uscc, count(*)::float AS value,
               array_agg('inspection:' || inspection_no ORDER BY inspected_on DESC) AS evidence
        FROM inspection
        WHERE enterprise_uscc IN (SELECT uscc FROM credit_targets) AND result = ANY(:results) {ordered}
          AND inspected_on <= :as_of AND inspected_on > :as_of - :window_days
        GROUP BY enterprise_uscc"""


def _qualification_expired(p: Params) -> str:
    return """
        SELECT enterprise_uscc AS uscc, max(greatest(0, :as_of - latest))::float AS value,
               array_agg('qualification:' || certificate_no) FILTER (WHERE latest < :as_of) AS evidence
        FROM (SELECT enterprise_uscc, category, max(certificate_no) AS certificate_no, max(expires_on) AS latest
              FROM qualification
              WHERE enterprise_uscc IN (SELECT uscc FROM credit_targets) AND category LIKE :category_like
                AND expires_on IS NOT NULL AND coalesce(issued_on, expires_on) <= :as_of
              GROUP BY enterprise_uscc, category) q
        GROUP BY enterprise_uscc"""


def _complaints_per_projects(p: Params) -> str:
    return """
        WITH window_hits AS (
            SELECT c.id, c.target_kind, c.target_id FROM complaint c
            WHERE credit_complaint_verified(c.status, c.result)
              AND c.received_at::date <= :as_of AND c.received_at::date > :as_of - :window_days),
        hits AS (
            SELECT target_id AS uscc, id FROM window_hits
            WHERE target_kind = 'enterprise' AND target_id IN (SELECT uscc FROM credit_targets)
            UNION ALL
            SELECT pr.contractor_uscc, h.id FROM window_hits h JOIN project pr ON pr.code = h.target_id
            WHERE h.target_kind = 'project' AND pr.contractor_uscc IN (SELECT uscc FROM credit_targets)),
        active AS (
            SELECT t.uscc, count(pr.code) AS projects FROM credit_targets t
            JOIN project pr ON pr.stage = ANY(:active_stages) AND t.uscc IN
                 (pr.contractor_uscc, pr.build_unit_uscc, pr.supervisor_uscc, pr.designer_uscc, pr.surveyor_uscc)
            GROUP BY t.uscc)
        SELECT h.uscc, count(*) * 10.0 / greatest(1, max(coalesce(a.projects, 0))) AS value,
               array_agg('complaint:' || h.id ORDER BY h.id DESC) AS evidence
        FROM hits h LEFT JOIN active a USING (uscc)
        GROUP BY h.uscc"""


def _repairs(p: Params) -> str:
    overdue = (
        "AND due_on < :as_of" if p["overdue"] else "AND coalesce(completed_on, applied_on) > :as_of - :window_days"
    )
    return f"""
        SELECT enterprise_uscc AS uscc, count(*)::float AS value,
               array_agg('credit_repair:' || id ORDER BY applied_on DESC) AS evidence
        FROM credit_repair
        WHERE enterprise_uscc IN (SELECT uscc FROM credit_targets) AND status = ANY(:statuses)
          AND applied_on <= :as_of {overdue}
        GROUP BY enterprise_uscc"""


def _score_change(p: Params) -> str:
    return """
        WITH history AS (
            SELECT s.enterprise_uscc AS uscc, s.total, r.as_of, r.id AS run_id FROM credit_score s
            JOIN credit_run r ON r.id = s.run_id
            WHERE s.enterprise_uscc IN (SELECT uscc FROM credit_targets) AND r.as_of <= :as_of),
        latest AS (SELECT DISTINCT ON (uscc) uscc, total, run_id FROM history ORDER BY uscc, as_of DESC, run_id DESC),
        earlier AS (SELECT DISTINCT ON (uscc) uscc, total, run_id FROM history
                    WHERE as_of <= :as_of - :window_days ORDER BY uscc, as_of DESC, run_id DESC)
        SELECT l.uscc, (l.total - e.total)::float AS value,
               ARRAY['credit_run:' || e.run_id, 'credit_run:' || l.run_id] AS evidence
        FROM latest l JOIN earlier e USING (uscc)"""


KINDS: dict[str, Kind] = {
    "bad_records": Kind(
        "credit_record",
        "bad records in the window of at least a severity (|score_impact|), counted or summed by impact, "
        "each weighted by the share of its validity still to run (decay)",
        {"window_days": 1095, "min_impact": 0, "measure": "count", "decay": "validity"},
        _bad_or_good("bad"),
    ),
    "good_records": Kind(
        "credit_record",
        "good records (awards, commendations) still valid in the window",
        {"window_days": 1095, "min_impact": 0, "measure": "count", "decay": "none"},
        _bad_or_good("good"),
    ),
    "penalties": Kind(
        "penalty",
        "administrative penalties decided in the window, of at least an amount",
        {"window_days": 365, "min_amount": 0},
        _penalties,
    ),
    "inspection_share": Kind(
        "inspection",
        "share of the inspections in the window with one of the results (0 without inspections)",
        {"window_days": 365, "results": ["fail"]},
        _inspection_share,
    ),
    "inspection_count": Kind(
        "inspection",
        "inspections in the window with one of the results; with rectify_order, only those that ordered rectification",
        {"window_days": 365, "results": ["pass", "fail"], "rectify_order": False},
        _inspection_count,
    ),
    "qualification_expired_days": Kind(
        "qualification",
        "days since the latest certificate of a category (LIKE pattern) expired; 0 while valid",
        {"category_like": "%"},
        _qualification_expired,
    ),
    "complaints_per_10_projects": Kind(
        "complaint",
        "verified complaints in the window about the enterprise or its sites, per 10 active projects",
        {"window_days": 365, "active_stages": ACTIVE_STAGES},
        _complaints_per_projects,
    ),
    "repairs": Kind(
        "credit_repair",
        "credit repairs with one of the statuses in the window, or (overdue) past their due date",
        {"window_days": 365, "statuses": ["completed"], "overdue": False},
        _repairs,
    ),
    "score_change": Kind(
        "credit_score",
        "change of the total between the latest score and the latest one at least the window earlier",
        {"window_days": 182},
        _score_change,
        signed=True,
    ),
    "model_probability": Kind(
        "credit_model",
        "probability from the active model of a serious bad record or penalty in the next 12 months, "
        "computed from the other indicators' values (0 while no model is active)",
        {},
        None,
    ),
}


# Parameters that shape the statement rather than feed a bind parameter, and their allowed values.
CHOICES = {
    "measure": ("count", "impact"),
    "decay": ("validity", "none"),
    "overdue": (True, False),
    "rectify_order": (True, False),
}


def resolve(kind: str, params: Params) -> tuple[Kind, Params]:
    """The kind and its full parameters (defaults filled); unknown kinds, parameters or choices are refused."""
    if kind not in KINDS:
        raise UserError(f"unknown aggregate kind {kind!r}; one of: {', '.join(KINDS)}")
    spec = KINDS[kind]
    unknown = set(params) - set(spec.defaults)
    if unknown:
        raise UserError(
            f"aggregate {kind!r} has no parameter {', '.join(sorted(unknown))}; it takes: {', '.join(spec.defaults)}"
        )
    full = {**spec.defaults, **params}
    for name, allowed in CHOICES.items():
        if name in full and not any(type(full[name]) is type(a) and full[name] == a for a in allowed):
            choices = ", ".join(str(a).lower() if isinstance(a, bool) else str(a) for a in allowed)
            raise UserError(f"aggregate {kind!r}: {name} must be one of {choices}, not {full[name]!r}")
    return spec, full

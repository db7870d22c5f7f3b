"""The scoring engine: per active ruleset, ONE statement per indicator over all its enterprises,
scores vectorised with numpy, results copied in, enterprise grades updated in one statement.

Indicator scores lie in 0..100; the total is their weighted mean (weights normalised), rounded to
0.01 and graded by the ruleset's thresholds (total ≥ A → A, ≥ B → B, ≥ C → C, else D).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.models import CreditIndicator, CreditRuleset, CreditRun
from credit import aggregates, alerts, model_score, rulesets

EVIDENCE_KEPT = 10
ANALYZE_ABOVE = 1000
EXPLAINED = 5
# The columns the statements after a run join and filter on: their statistics are refreshed after a
# large run (the JSON columns' are not: sampling them took ~7 s of a 30,000-enterprise run).
JOINED_COLUMNS = ("run_id", "enterprise_uscc", "grade", "previous_grade")


@dataclass
class RunSummary:
    run_id: int
    ruleset_version: str
    enterprises: int
    grades: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def indicator_scores(scoring: dict, values: np.ndarray) -> np.ndarray:
    """Scores (0..100) of values under a scoring rule (bands or linear)."""
    if scoring.get("linear"):
        lin = scoring["linear"]
        raw = lin["base"] + lin["per_unit"] * values
        return np.clip(raw, lin.get("low", 0.0), lin.get("high", 100.0))
    uppers = np.array([b[0] for b in scoring["bands"]], dtype=float)
    scores = np.array([b[1] for b in scoring["bands"]] + [scoring["above"]], dtype=float)
    return scores[np.searchsorted(uppers, values, side="left")]


def grade_of(totals: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    return np.select(
        [totals >= thresholds["A"], totals >= thresholds["B"], totals >= thresholds["C"]], ["A", "B", "C"], "D"
    )


def _targets(session: Session, ruleset: CreditRuleset, enterprises: list[str] | None) -> list[tuple[str, str | None]]:
    session.execute(text("DROP TABLE IF EXISTS credit_targets"))
    session.execute(text("CREATE TEMP TABLE credit_targets (uscc varchar(18) PRIMARY KEY) ON COMMIT DROP"))
    session.execute(
        text(
            "INSERT INTO credit_targets SELECT uscc FROM enterprise WHERE type = ANY(:types)"
            " AND (CAST(:only AS text[]) IS NULL OR uscc = ANY(CAST(:only AS text[])))"
        ),
        {"types": list(ruleset.enterprise_types), "only": enterprises},
    )
    session.execute(text("ANALYZE credit_targets"))
    rows = session.execute(
        text("SELECT e.uscc, e.credit_grade FROM enterprise e JOIN credit_targets t USING (uscc) ORDER BY e.uscc")
    )
    return [(r[0], r[1]) for r in rows]


def _aggregate(session: Session, indicator: CreditIndicator, index: dict[str, int], as_of: date):
    """(values, evidence lists) of one indicator, aligned with the targets."""
    spec, params = aggregates.resolve(indicator.aggregate["kind"], indicator.aggregate.get("params", {}))
    if spec.sql is None:
        raise ValueError(f"aggregate {indicator.aggregate['kind']!r} is computed by the engine, not queried")
    values = np.zeros(len(index))
    evidence: dict[int, list[str]] = {}
    binds = {k: v for k, v in params.items() if k not in aggregates.CHOICES}
    for uscc, value, records in session.execute(text(spec.sql(params)), {**binds, "as_of": as_of}):
        i = index[uscc]
        values[i] = value or 0.0
        if records:
            evidence[i] = list(records[:EVIDENCE_KEPT])
    return values, evidence


def _values(
    session: Session, indicators: list[CreditIndicator], targets: list[tuple[str, str | None]], as_of: date
) -> tuple[np.ndarray, list[dict[int, list[str]]]]:
    """Indicator values (indicators × targets) and their evidence, one statement per indicator."""
    index = {uscc: i for i, (uscc, _) in enumerate(targets)}
    values = np.zeros((len(indicators), len(targets)))
    evidence: list[dict[int, list[str]]] = [{} for _ in indicators]
    derived = []
    for k, ind in enumerate(indicators):
        if aggregates.KINDS[ind.aggregate["kind"]].sql is None:
            derived.append(k)
        else:
            values[k], evidence[k] = _aggregate(session, ind, index, as_of)
    if derived:
        model = model_score.active(session)
        if model is not None:
            codes = [ind.code for ind in indicators]
            probability, reasons = model_score.predict(model, codes, values)
            for k in derived:
                values[k], evidence[k] = probability, reasons
    return values, evidence


def indicator_matrix(
    session: Session, ruleset: CreditRuleset, as_of: date, enterprises: list[str] | None = None
) -> tuple[list[str], list[str], np.ndarray]:
    """(enterprises, indicator codes, values enterprises × indicators) as of a date, nothing written:
    what the model learns from (the indicators computed from records, not the model's own)."""
    targets = _targets(session, ruleset, enterprises)
    indicators = [
        i for i in rulesets.indicators_of(session, ruleset.id) if aggregates.KINDS[i.aggregate["kind"]].sql is not None
    ]
    values, _ = _values(session, indicators, targets, as_of)
    return [t[0] for t in targets], [i.code for i in indicators], values.T


def score(
    session: Session,
    *,
    enterprises: list[str] | None = None,
    as_of: date | None = None,
    scope: str = "all",
    username: str | None = None,
) -> list[RunSummary]:
    """Score the enterprises (all of each active ruleset's types, or only the given ones)."""
    as_of = as_of or date.today()
    summaries = []
    for ruleset in rulesets.active(session):
        summary = _score_ruleset(session, ruleset, enterprises, as_of, scope, username)
        if summary is not None:
            summaries.append(summary)
    return summaries


def _score_ruleset(
    session: Session,
    ruleset: CreditRuleset,
    enterprises: list[str] | None,
    as_of: date,
    scope: str,
    username: str | None,
) -> RunSummary | None:
    targets = _targets(session, ruleset, enterprises)
    if not targets:
        return None
    run = CreditRun(ruleset_id=ruleset.id, scope=scope, as_of=as_of, username=username, enterprises=len(targets))
    session.add(run)
    session.flush()
    indicators = rulesets.indicators_of(session, ruleset.id)
    weights = np.array([ind.weight for ind in indicators], dtype=float)
    weights = weights / weights.sum()
    values, evidence = _values(session, indicators, targets, as_of)
    scores = np.vstack([indicator_scores(ind.scoring, values[k]) for k, ind in enumerate(indicators)])
    totals = np.round(weights @ scores, 2)
    grades = grade_of(totals, ruleset.thresholds)
    families = sorted({ind.family for ind in indicators}, key=[i.family for i in indicators].index)
    family_scores = {
        fam: np.round((weights[m := np.array([i.family == fam for i in indicators])] @ scores[m]) / weights[m].sum(), 2)
        for fam in families
    }
    points = np.round(weights[:, None] * (scores - 100.0), 2)
    _copy_scores(
        session, run, ruleset, targets, indicators, values, scores, points, evidence, totals, grades, family_scores
    )
    if len(targets) > ANALYZE_ABOVE:  # fresh statistics, or the joins below plan for one row
        session.execute(text(f"ANALYZE credit_score ({', '.join(JOINED_COLUMNS)})"))
    _apply(session, run.id, ruleset.version, as_of)
    run.finished_at = datetime.now(UTC)
    session.flush()
    dropped = alerts.after_run(session, run.id, rulesets.RulesetSettings.model_validate(ruleset.settings))
    counts = dict(zip(*np.unique(grades, return_counts=True), strict=True))
    return RunSummary(run.id, ruleset.version, len(targets), {g: int(n) for g, n in counts.items()}, dropped)


def _copy_scores(
    session, run, ruleset, targets, indicators, values, scores, points, evidence, totals, grades, family_scores
):
    """COPY one row per enterprise into credit_score (indicators, families, explanation as JSON);
    numbers are rounded and turned into Python lists once, in numpy, not per element."""
    codes = [ind.code for ind in indicators]
    labels = [
        {"indicator": ind.code, "name": ind.name, "name_en": ind.name_en, "family": ind.family} for ind in indicators
    ]
    value_rows = np.round(values, 4).T.tolist()
    score_rows = np.round(scores, 2).T.tolist()
    point_rows = points.T.tolist()
    order_rows = np.argsort(points, axis=0, kind="stable")[:EXPLAINED].T.tolist()
    family_rows = np.column_stack(list(family_scores.values())).tolist()
    family_names = list(family_scores)
    total_list, grade_list = totals.tolist(), grades.tolist()

    def encode(value: object) -> str:
        return orjson.dumps(value).decode()

    columns = (
        "run_id, enterprise_uscc, ruleset_version, total, grade, previous_grade, families, indicators, explanation"
    )
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY credit_score ({columns}) FROM STDIN") as copy:
        for j, (uscc, previous) in enumerate(targets):
            vals, pts = value_rows[j], point_rows[j]
            per = {code: {"value": vals[k], "score": score_rows[j][k]} for k, code in enumerate(codes)}
            for k, found in enumerate(evidence):
                if j in found:
                    per[codes[k]]["records"] = found[j]
            explanation = [
                labels[k] | {"value": vals[k], "points": pts[k], "records": evidence[k].get(j, [])}
                for k in order_rows[j]
                if pts[k] < 0
            ]
            copy.write_row(
                (
                    run.id,
                    uscc,
                    ruleset.version,
                    total_list[j],
                    grade_list[j],
                    previous,
                    encode(dict(zip(family_names, family_rows[j], strict=True))),
                    encode(per),
                    encode(explanation),
                )
            )


def _apply(session: Session, run_id: int, version: str, as_of: date) -> None:
    """The run's grades become the enterprises' current ones (only rows that change are written); a
    changed grade is dated and joins the grade history (every score stays in credit_score)."""
    session.execute(
        text(
            """WITH changed AS (
                   UPDATE enterprise e SET credit_grade = s.grade, credit_score = s.total,
                          grade_date = CASE WHEN s.previous_grade IS DISTINCT FROM s.grade OR e.grade_date IS NULL
                                            THEN :as_of ELSE e.grade_date END
                   FROM credit_score s
                   WHERE s.run_id = :run AND s.enterprise_uscc = e.uscc
                     AND (e.credit_grade IS DISTINCT FROM s.grade OR e.credit_score IS DISTINCT FROM s.total
                          OR e.grade_date IS NULL)
                   RETURNING e.uscc, s.grade, s.total, s.explanation,
                             s.previous_grade IS DISTINCT FROM s.grade AS moved)
               INSERT INTO credit_grade_history (enterprise_uscc, grade, score, graded_on, rules_version, explanation)
               SELECT uscc, grade, total, :as_of, left(:version, 16), explanation::text FROM changed WHERE moved"""
        ),
        {"run": run_id, "as_of": as_of, "version": version},
    )

"""The model score: trained on generated histories where risk is learnable, a time split, AUC and
calibration reported, activation refused below the ruleset's threshold."""

from __future__ import annotations

import copy
import math
from datetime import date

import pytest
from sqlalchemy import Engine, text

from core.db import session_scope
from core.errors import UserError
from credit import engine, model, model_score
from credit.generate import generate_histories
from tests.fixtures_credit import activate_doc

SNAPSHOTS = 15


@pytest.fixture(scope="module")
def trained(database: Engine, credit_active) -> tuple[list[str], model.ModelReport]:
    with session_scope() as session:
        codes = generate_histories(session, 400, months=48, seed=3)
    with session_scope() as session:
        report = model.train(session, version="test-model-1", enterprises=codes, snapshots=SNAPSHOTS)
    return codes, report


def test_generated_histories_are_quiet_and_self_exciting(database: Engine, trained) -> None:
    codes, _ = trained
    with database.connect() as conn:
        queued = conn.execute(
            text("SELECT count(*) FROM credit_rescore_request WHERE enterprise_uscc = ANY(:c)"), {"c": codes}
        ).scalar_one()
        per_year = conn.execute(
            text(
                "SELECT subject_id, extract(year FROM decided_on)::int AS y, count(*) AS n FROM credit_record"
                " WHERE kind = 'bad' AND subject_id = ANY(:c) GROUP BY 1, 2"
            ),
            {"c": codes},
        ).all()
    assert queued == 0  # a bulk load asks for no per-row re-scoring
    counts: dict[str, dict[int, int]] = {}
    for uscc, year, n in per_year:
        counts.setdefault(uscc, {})[year] = n
    years = sorted({y for _, y, _ in per_year})
    first, later = years[1], years[2]
    had = [c.get(later, 0) for c in counts.values() if c.get(first, 0) > 0]
    had_not = [c.get(later, 0) for u, c in counts.items() if c.get(first, 0) == 0] + [0] * (len(codes) - len(counts))
    assert sum(had) / len(had) > 2 * sum(had_not) / len(had_not)  # earlier records predict later ones


def test_model_reports_held_out_auc_on_a_time_split(database: Engine, trained) -> None:
    codes, report = trained
    assert report.train_rows == (2 * SNAPSHOTS // 3) * len(codes)
    assert report.test_rows == (SNAPSHOTS - 2 * SNAPSHOTS // 3) * len(codes)
    assert 0.65 <= report.auc < 1.0
    assert 3 <= len(report.calibration) <= 5
    assert report.calibration[-1]["observed"] > report.calibration[0]["observed"]
    with database.connect() as conn:
        row = conn.execute(text("SELECT params, auc FROM credit_model WHERE version = 'test-model-1'")).one()
    snapshots = [date.fromisoformat(d) for d in row.params["snapshots"]]
    split = date.fromisoformat(row.params["split"])
    assert all(d < split for d in snapshots[: 2 * SNAPSHOTS // 3]) and all(
        d >= split for d in snapshots[2 * SNAPSHOTS // 3 :]
    )
    assert row.auc == pytest.approx(report.auc, abs=1e-4)
    assert len(row.params["coef"]) == len(report.features)


def test_activation_refused_below_the_threshold(database: Engine, trained, default_doc) -> None:
    strict = copy.deepcopy(default_doc) | {"version": "test-auc-strict"}
    strict["settings"]["model_auc_threshold"] = 1.0
    activate_doc(strict)
    with session_scope() as session, pytest.raises(UserError, match="below the ruleset's threshold 1.000"):
        model.activate(session, "test-model-1")
    lenient = copy.deepcopy(default_doc) | {"version": "test-auc-lenient"}
    lenient["settings"]["model_auc_threshold"] = 0.6
    activate_doc(lenient)
    with session_scope() as session:
        model.activate(session, "test-model-1")
    with session_scope() as session:
        assert model_score.active(session).version == "test-model-1"


def test_active_model_probability_enters_risk_trend_and_explanation(database: Engine, trained, default_doc) -> None:
    """A ruleset with the model indicator: its value is the model's probability (recomputed here
    from the stored coefficients in plain Python) and its evidence names the model."""
    codes, _ = trained
    doc = copy.deepcopy(default_doc) | {"version": "test-with-model"}
    trend = next(i for i in doc["indicators"] if i["code"] == "score_trend")
    trend["weight"] = 0.02
    doc["indicators"].append(
        {
            "code": "model_risk",
            "family": "风险趋势",
            "name": "模型风险概率",
            "name_en": "Model risk probability",
            "source": "credit_model",
            "aggregate": {"kind": "model_probability"},
            "scoring": {"linear": {"base": 100, "per_unit": -100}},
            "weight": 0.02,
        }
    )
    activate_doc(doc)
    with session_scope() as session:
        [summary] = engine.score(session, enterprises=codes[:60])
    with database.connect() as conn:
        params = conn.execute(text("SELECT params, features FROM credit_model WHERE version = 'test-model-1'")).one()
        rows = conn.execute(
            text("SELECT indicators, explanation FROM credit_score WHERE run_id = :r"), {"r": summary.run_id}
        ).all()
    p, features = params.params, params.features
    for indicators, _ in rows:
        z = sum(
            (indicators[f]["value"] - m) / s * c
            for f, m, s, c in zip(features, p["mean"], p["scale"], p["coef"], strict=True)
        )
        probability = 1 / (1 + math.exp(-(z + p["intercept"])))
        assert indicators["model_risk"]["value"] == pytest.approx(probability, abs=1e-3)
        assert indicators["model_risk"]["records"][0] == "credit_model:test-model-1"
    moved = [item for _, explanation in rows for item in explanation if item["indicator"] == "model_risk"]
    assert moved and all(item["records"][0] == "credit_model:test-model-1" for item in moved)
    activate_doc(copy.deepcopy(default_doc) | {"version": "default-2026.1-c"})

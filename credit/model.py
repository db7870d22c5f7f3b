"""The risk model beside the rules: logistic regression on the indicator values of monthly
snapshots, predicting a serious bad record or a penalty in the next 12 months; trained on the
earlier snapshots, evaluated on the later ones (AUC, calibration); versioned; activated only if
its held-out AUC reaches the active ruleset's ``model_auc_threshold``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from core.errors import NotFound, UserError
from core.models import CreditModel
from credit import engine, rulesets

HORIZON_DAYS = 365
SERIOUS_IMPACT = 10


@dataclass
class ModelReport:
    version: str
    auc: float
    calibration: list[dict[str, float]]
    train_rows: int
    test_rows: int
    positive_share: float
    features: list[str] = field(default_factory=list)
    active: bool = False


def _labels(session: Session, usccs: list[str], as_of: date) -> np.ndarray:
    """1 where the enterprise got a serious bad record or a penalty within the horizon after as_of."""
    rows = session.execute(
        text(
            "SELECT subject_id FROM penalty WHERE subject_kind = 'enterprise' AND decided_on > :d"
            " AND decided_on <= :d + :h AND subject_id = ANY(:u)"
            " UNION SELECT subject_id FROM credit_record WHERE subject_kind = 'enterprise' AND kind = 'bad'"
            " AND abs(score_impact) >= :s AND decided_on > :d AND decided_on <= :d + :h AND subject_id = ANY(:u)"
        ),
        {"d": as_of, "h": HORIZON_DAYS, "s": SERIOUS_IMPACT, "u": usccs},
    )
    hit = {r[0] for r in rows}
    return np.array([u in hit for u in usccs], dtype=int)


def train(
    session: Session,
    *,
    version: str | None = None,
    enterprises: list[str] | None = None,
    snapshots: int = 24,
    end: date | None = None,
) -> ModelReport:
    """Fit on the first two thirds of the monthly snapshots, evaluate on the last third."""
    active = rulesets.active(session)
    if not active:
        raise UserError("no active ruleset: the model learns from its indicators")
    ruleset = active[0]
    last = (end or date.today()) - timedelta(days=HORIZON_DAYS)
    days = [last - timedelta(days=30 * k) for k in reversed(range(snapshots))]
    xs, ys = [], []
    for day in days:
        usccs, codes, values = engine.indicator_matrix(session, ruleset, day, enterprises)
        xs.append(values)
        ys.append(_labels(session, usccs, day))
    cut = (2 * snapshots) // 3
    x_train, y_train = np.vstack(xs[:cut]), np.concatenate(ys[:cut])
    x_test, y_test = np.vstack(xs[cut:]), np.concatenate(ys[cut:])
    for name, y in (("training", y_train), ("held-out", y_test)):
        if len(set(y.tolist())) < 2:
            raise UserError(f"the {name} months hold only one outcome: more history is needed to train")
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(x_train, y_train)
    predicted = pipeline.predict_proba(x_test)[:, 1]
    auc = float(roc_auc_score(y_test, predicted))
    observed, mean_predicted = calibration_curve(y_test, predicted, n_bins=5, strategy="quantile")
    calibration = [
        {"predicted": round(float(p), 4), "observed": round(float(o), 4)}
        for p, o in zip(mean_predicted, observed, strict=True)
    ]
    scaler, logistic = pipeline.named_steps["standardscaler"], pipeline.named_steps["logisticregression"]
    version = version or datetime.now(UTC).strftime("m%Y%m%d%H%M%S")
    if session.get(CreditModel, version) is not None:
        raise UserError(f"model {version} exists: models are versioned, pick a new name")
    session.add(
        CreditModel(
            version=version,
            features=codes,
            params={
                "mean": scaler.mean_.tolist(),
                "scale": scaler.scale_.tolist(),
                "coef": logistic.coef_[0].tolist(),
                "intercept": float(logistic.intercept_[0]),
                "ruleset_version": ruleset.version,
                "snapshots": [d.isoformat() for d in days],
                "split": days[cut].isoformat(),
            },
            auc=auc,
            calibration=calibration,
            train_rows=len(y_train),
            test_rows=len(y_test),
            active=False,
        )
    )
    session.flush()
    return ModelReport(
        version, round(auc, 4), calibration, len(y_train), len(y_test), round(float(y_test.mean()), 4), codes
    )


def activate(session: Session, version: str) -> CreditModel:
    """Activate a model whose held-out AUC reaches the active ruleset's threshold; refuse otherwise."""
    model = session.get(CreditModel, version)
    if model is None:
        raise NotFound(f"no model {version}")
    active = rulesets.active(session)
    if not active:
        raise UserError("no active ruleset sets the AUC a model must reach")
    threshold = rulesets.RulesetSettings.model_validate(active[0].settings).model_auc_threshold
    if model.auc < threshold:
        raise UserError(
            f"model {version} has held-out AUC {model.auc:.3f}, below the ruleset's threshold"
            f" {threshold:.3f}: not activated"
        )
    session.execute(update(CreditModel).where(CreditModel.version != version).values(active=False))
    model.active = True
    session.flush()
    return model

"""The active model applied inside a scoring run: its probability (the 风险趋势 family's model
indicator) and its top contributions (the explanation), from the stored coefficients with numpy."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import UserError
from core.models import CreditModel

TOP = 3


def active(session: Session) -> CreditModel | None:
    return session.scalar(select(CreditModel).where(CreditModel.active))


def predict(model: CreditModel, codes: list[str], values: np.ndarray) -> tuple[np.ndarray, dict[int, list[str]]]:
    """Probabilities for the targets (columns of ``values``, rows in ``codes`` order) and, per target,
    the model version and its top contributions ``code:+0.84`` (log-odds, standardised)."""
    missing = [f for f in model.features if f not in codes]
    if missing:
        raise UserError(f"model {model.version} needs indicators the ruleset lacks: {', '.join(missing)}")
    p = model.params
    x = values[[codes.index(f) for f in model.features]].T
    contributions = (x - np.array(p["mean"])) / np.array(p["scale"]) * np.array(p["coef"])
    probability = 1.0 / (1.0 + np.exp(-(contributions.sum(axis=1) + p["intercept"])))
    top = np.argsort(-contributions, axis=1)[:, :TOP]
    reasons = {
        j: [f"credit_model:{model.version}"]
        + [f"{model.features[k]}:{contributions[j, k]:+.2f}" for k in top[j] if contributions[j, k] > 0]
        for j in range(len(probability))
    }
    return probability, reasons

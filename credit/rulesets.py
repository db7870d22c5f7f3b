"""Rulesets as data: the document (YAML/JSON), its checks, and its lifecycle
drafted → checked → approved (by a second person) → active; only a draft may change."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from core.errors import NotFound, UserError
from core.models import CreditIndicator, CreditRuleset
from core.models.credit import FAMILIES
from core.models.records import CREDIT_GRADES, ENTERPRISE_TYPES
from credit import aggregates

DEFAULT_RULESET = Path(__file__).parent / "rulesets" / "default_construction.yaml"
Family = Literal[FAMILIES]  # type: ignore[valid-type]
Grade = Literal[CREDIT_GRADES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Linear(_Strict):
    """score = clamp(base + per_unit × value, low, high)."""

    base: float
    per_unit: float
    low: float = 0.0
    high: float = 100.0


class Scoring(_Strict):
    """Bands: the score of the first band whose upper bound (inclusive) the value does not pass,
    ``above`` past the last; or a linear formula."""

    bands: list[tuple[float, float]] | None = None
    above: float | None = None
    linear: Linear | None = None

    def problems(self) -> list[str]:
        if (self.bands is None) == (self.linear is None):
            return ["give either bands (with above) or linear, not both or neither"]
        if self.bands is None:  # linear
            return []
        out = []
        uppers = [upper for upper, _ in self.bands]
        if not uppers or any(b <= a for a, b in zip(uppers, uppers[1:], strict=False)):
            out.append(f"band upper bounds must rise strictly, got {uppers}")
        if self.above is None:
            out.append("bands need 'above': the score past the last band")
        scores = [score for _, score in self.bands] + ([self.above] if self.above is not None else [])
        if any(not 0 <= s <= 100 for s in scores):
            out.append(f"band scores must lie in 0..100, got {scores}")
        return out


class Aggregate(_Strict):
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)


class Indicator(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    family: Family
    name: str
    name_en: str
    meaning: str | None = None
    source: str
    aggregate: Aggregate
    scoring: Scoring
    weight: float = Field(ge=0)
    frequency: Literal["event", "daily", "monthly"] = "monthly"
    owner: str | None = None
    enabled: bool = True
    key: bool = False


class AlertSettings(_Strict):
    site_distance_m: float = 50.0
    cluster_eps_m: float = 100.0
    cluster_min_points: int = 3
    cluster_window_days: int = 30
    surge_min_increase: float = 1.0
    dispatch_days: int = 7


class Measure(_Strict):
    """What supervision does with an enterprise of a grade (措施)."""

    name: str
    name_en: str
    inspections_per_year: int = Field(ge=0)
    spot_check_share: float = Field(ge=0, le=1)
    interview: bool = False
    rectify_order: bool = False
    repair_tracking: bool = False


class RulesetSettings(_Strict):
    model_auc_threshold: float = Field(default=0.7, ge=0.5, le=1)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    measures: dict[Grade, Measure] = Field(default_factory=dict)


class Ruleset(_Strict):
    """The document a bureau edits: load and export as YAML or JSON."""

    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,32}$")
    name: str
    name_en: str | None = None
    default: bool = False
    valid_from: date
    enterprise_types: list[str]
    thresholds: dict[Literal["A", "B", "C"], float]
    settings: RulesetSettings = Field(default_factory=RulesetSettings)
    indicators: list[Indicator]

    @model_validator(mode="after")
    def _codes_unique(self) -> Ruleset:
        codes = [i.code for i in self.indicators]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"indicator codes appear twice: {', '.join(twice)}")
        return self


def parse(data: dict[str, Any]) -> Ruleset:
    """The document, or a UserError that lists every problem with its place."""
    try:
        return Ruleset.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or 'ruleset'}: {e['msg']}" for e in exc.errors()]
        raise UserError("the ruleset is not valid: " + "; ".join(lines)) from None


def read_file(path: Path) -> Ruleset:
    """A ruleset from a .yaml/.yml or .json file."""
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    raw = path.read_text(encoding="utf-8")
    try:
        data = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"{path} is not readable YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold one mapping (the ruleset)")
    return parse(data)


def problems(session: Session, ruleset: Ruleset) -> list[str]:
    """Every reason the ruleset cannot be used (empty when it can)."""
    out: list[str] = []
    enabled = [i for i in ruleset.indicators if i.enabled]
    if not enabled:
        out.append("no enabled indicator")
    total = sum(i.weight for i in enabled)
    if enabled and not (abs(total - 1) < 1e-6 or abs(total - 100) < 1e-4):
        out.append(f"the weights of the enabled indicators sum to {total:g}, not 1 (or 100)")
    t = ruleset.thresholds
    if set(t) != {"A", "B", "C"}:
        out.append("thresholds need A, B and C (below C is D)")
    elif not 100 >= t["A"] > t["B"] > t["C"] >= 0:
        out.append(f"thresholds must be ordered 100 ≥ A > B > C ≥ 0, got A={t['A']}, B={t['B']}, C={t['C']}")
    unknown_types = sorted(set(ruleset.enterprise_types) - set(ENTERPRISE_TYPES))
    if unknown_types or not ruleset.enterprise_types:
        out.append(f"enterprise types must be some of {', '.join(ENTERPRISE_TYPES)}; unknown: {unknown_types}")
    for ind in ruleset.indicators:
        where = f"indicator {ind.code}"
        try:
            spec, _ = aggregates.resolve(ind.aggregate.kind, ind.aggregate.params)
        except UserError as exc:
            out.append(f"{where}: {exc}")
            continue
        if ind.source != spec.source:
            out.append(
                f"{where}: source {ind.source!r} is not what aggregate {ind.aggregate.kind!r} reads ({spec.source})"
            )
        elif session.execute(text("SELECT to_regclass(:t)"), {"t": ind.source}).scalar() is None:
            out.append(f"{where}: source table {ind.source!r} does not exist in this database")
        out.extend(f"{where}: {p}" for p in ind.scoring.problems())
    return out


def _row(session: Session, version: str) -> CreditRuleset:
    row = session.scalar(select(CreditRuleset).where(CreditRuleset.version == version))
    if row is None:
        raise NotFound(f"no ruleset version {version!r}")
    return row


def store(session: Session, ruleset: Ruleset, username: str | None) -> CreditRuleset:
    """Save as a draft (replacing a draft of the same version); other states are never edited."""
    row = session.scalar(select(CreditRuleset).where(CreditRuleset.version == ruleset.version))
    if row is not None and row.status != "draft":
        raise UserError(
            f"ruleset {ruleset.version} is {row.status} and is never edited in place: load it as a new version"
        )
    if row is None:
        row = CreditRuleset(version=ruleset.version)
        session.add(row)
    row.name, row.name_en, row.is_default = ruleset.name, ruleset.name_en, ruleset.default
    row.valid_from, row.enterprise_types = ruleset.valid_from, list(ruleset.enterprise_types)
    row.thresholds = dict(ruleset.thresholds)
    row.settings = ruleset.settings.model_dump(mode="json")
    row.status, row.proposed_by, row.approved_by, row.check_messages = "draft", username, None, None
    session.flush()
    session.execute(delete(CreditIndicator).where(CreditIndicator.ruleset_id == row.id))
    for position, ind in enumerate(ruleset.indicators):
        fields = ind.model_dump(mode="json")
        session.add(CreditIndicator(ruleset_id=row.id, position=position, **fields))
    session.flush()
    return row


def document(session: Session, version: str) -> Ruleset:
    """The stored ruleset as its document (what `export` writes)."""
    row = _row(session, version)
    indicators = session.scalars(
        select(CreditIndicator).where(CreditIndicator.ruleset_id == row.id).order_by(CreditIndicator.position)
    ).all()
    fields = tuple(Indicator.model_fields)
    return Ruleset(
        version=row.version,
        name=row.name,
        name_en=row.name_en,
        default=row.is_default,
        valid_from=row.valid_from,
        enterprise_types=list(row.enterprise_types),
        thresholds=row.thresholds,
        settings=RulesetSettings.model_validate(row.settings),
        indicators=[Indicator.model_validate({f: getattr(i, f) for f in fields}) for i in indicators],
    )


def dump(ruleset: Ruleset, fmt: Literal["yaml", "json"]) -> str:
    data = ruleset.model_dump(mode="json")
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def check(session: Session, version: str) -> CreditRuleset:
    """Check a draft: it becomes ``checked``, or stays a draft and the problems are raised."""
    row = _row(session, version)
    if row.status != "draft":
        raise UserError(f"ruleset {version} is {row.status}; only a draft is checked")
    found = problems(session, document(session, version))
    row.check_messages = found
    if found:
        session.flush()
        raise UserError(f"ruleset {version} fails its checks: " + "; ".join(found))
    row.status = "checked"
    session.flush()
    return row


def approve(session: Session, version: str, username: str) -> CreditRuleset:
    """A second person approves a checked ruleset: the proposer cannot."""
    row = _row(session, version)
    if row.status != "checked":
        raise UserError(f"ruleset {version} is {row.status}; only a checked ruleset can be approved")
    if row.proposed_by is not None and row.proposed_by == username:
        raise UserError(f"{username} proposed ruleset {version} and cannot also approve it: a second person must")
    row.status, row.approved_by = "approved", username
    session.flush()
    return row


def activate(session: Session, version: str) -> CreditRuleset:
    """Make an approved ruleset the active one for its enterprise types (the one it replaces retires)."""
    row = _row(session, version)
    if row.status != "approved":
        raise UserError(f"ruleset {version} is {row.status}: only an approved ruleset can be activated")
    for other in session.scalars(select(CreditRuleset).where(CreditRuleset.status == "active")):
        if set(other.enterprise_types) & set(row.enterprise_types):
            other.status = "retired"
    session.flush()
    row.status, row.activated_at = "active", datetime.now(UTC)
    session.flush()
    return row


def active(session: Session) -> list[CreditRuleset]:
    return list(session.scalars(select(CreditRuleset).where(CreditRuleset.status == "active")))


def indicators_of(session: Session, ruleset_id: int) -> list[CreditIndicator]:
    return list(
        session.scalars(
            select(CreditIndicator)
            .where(CreditIndicator.ruleset_id == ruleset_id, CreditIndicator.enabled)
            .order_by(CreditIndicator.position)
        )
    )

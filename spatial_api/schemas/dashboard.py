"""`/dashboard`: the command centre's key figures, each a count per code of a vocabulary."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.vocab import Label


class Bucket(BaseModel):
    code: str | None = Field(description="the vocabulary's code; null for rows with none or an unknown one")
    label: Label
    color: str | None
    count: int


class Figure(BaseModel):
    """One chart: counts per code, in the vocabulary's order (codes with no rows as 0)."""

    title: Label
    buckets: list[Bucket]
    total: int


class Series(BaseModel):
    code: str
    label: Label
    color: str | None
    counts: list[int] = Field(description="one per category, in the categories' order")


class Category(BaseModel):
    code: str
    label: Label


class CrossFigure(BaseModel):
    """One chart of two codes: a series per state, a count per category (kind) in each."""

    title: Label
    categories: list[Category]
    series: list[Series]
    total: int


class Withheld(BaseModel):
    figure: str
    roles: list[Category] = Field(description="the roles that may see it (admin too); none: anyone logged in")


class Dashboard(BaseModel):
    """The figures the caller's role may see (null where it may not, listed in ``withheld``)."""

    division: str | None = Field(description="the division code prefix filtered on, or null for all")
    projects_by_stage: Figure | None
    enterprises_by_grade: Figure | None
    credit_alerts_open: Figure | None
    alarms_open: Figure
    events: CrossFigure | None
    withheld: list[Withheld]

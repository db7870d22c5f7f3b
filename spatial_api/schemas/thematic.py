"""`/thematic/{layer}`."""

from __future__ import annotations

from pydantic import Field

from core.vocab import Label
from spatial_api.schemas.common import Answer


class LegendEntry(Answer):
    label: Label = Field(description="Chinese and English")
    color: str = Field(description="CSS colour")


class Thematic(Answer):
    layer: str
    theme: str
    values: dict[str, str | None] = Field(description="feature id → value (null: no record)")
    legend: dict[str, LegendEntry]
    unknown: LegendEntry = Field(description="how features without a value are drawn")

"""An IDS requirement in Chinese words, for the review's messages (ifctester speaks English only)."""

from __future__ import annotations

from typing import Any

from ifctester import facet


def _value(value: Any) -> str:
    """A facet's value (a plain value or an XSD restriction) as shown, empty when there is none."""
    return "" if value is None else f"（取值：{value}）"


def requirement_zh(requirement: facet.Facet) -> str:
    """What a requirement facet asks, in Chinese: ``须填写属性集 Pset_WallCommon 中的 FireRating``."""
    match requirement:
        case facet.Entity():
            asked = f"构件类型为 {requirement.name}" + (
                f"，预定义类型 {requirement.predefinedType}" if requirement.predefinedType else ""
            )
        case facet.Attribute():
            asked = f"填写属性 {requirement.name}{_value(requirement.value)}"
        case facet.Property():
            asked = f"填写属性集 {requirement.propertySet} 中的 {requirement.baseName}{_value(requirement.value)}"
        case facet.Classification():
            asked = f"带有分类 {requirement.system or ''}{_value(requirement.value)}"
        case facet.Material():
            asked = f"指定材料{_value(requirement.value)}"
        case facet.PartOf():
            asked = f"属于 {requirement.name}" + (f"（关系 {requirement.relation}）" if requirement.relation else "")
        case _:
            asked = type(requirement).__name__
    cardinality = getattr(requirement, "cardinality", "required")
    return ("不得" if cardinality == "prohibited" else "须") + asked

"""The enumerations the records accept, with their Chinese and English labels. The one place the
records package reads them from (today the models' CHECK lists; later ``core/vocab``)."""

from __future__ import annotations

from functools import cache

from core.models.records import (
    ENTERPRISE_TYPES,
    GRADES,
    PERSON_KINDS,
    PROJECT_ROLES,
    PROJECT_STAGES,
    PROJECT_TYPES,
)
from core.models.supervision import INSPECTION_KINDS, INSPECTION_RESULTS

Labels = dict[str, tuple[str, str]]  # code -> (zh, en)

_ZH = {
    "builder": "施工总承包",
    "municipal": "市政",
    "survey": "勘察",
    "design": "设计",
    "supervision": "监理",
    "developer": "房地产开发",
    "property": "物业",
    "review_agency": "审图机构",
    "registered": "执业",
    "employed": "从业",
    "skilled": "职业技能",
    "worker": "工人",
    "building": "房建",
    "civil_defence": "人防",
    "approval": "立项用地规划",
    "preparation": "工程准备",
    "construction": "施工",
    "acceptance": "验收",
    "delivered": "交付及管理",
    "project_manager": "项目经理",
    "chief_supervisor": "总监理工程师",
    "design_lead": "设计负责人",
    "safety_officer": "安全员",
    "technical_lead": "技术负责人",
    "good": "良好",
    "bad": "不良",
    "enterprise": "企业",
    "person": "人员",
    "routine": "日常检查",
    "special": "专项检查",
    "spot_check": "双随机抽查",
    "pass": "合格",
    "fail": "不合格",
    "A": "A",
    "B": "B",
    "C": "C",
    "D": "D",
}
_EN = {"municipal": "municipal works", "civil_defence": "civil defence", "spot_check": "random spot check"}


def _labels(codes: tuple[str, ...]) -> Labels:
    return {code: (_ZH[code], _EN.get(code, code.replace("_", " "))) for code in codes}


ENUMERATIONS: dict[str, Labels] = {
    "enterprise_types": _labels(ENTERPRISE_TYPES),
    "grades": _labels(GRADES),
    "person_kinds": _labels(PERSON_KINDS),
    "project_types": _labels(PROJECT_TYPES),
    "project_stages": _labels(PROJECT_STAGES),
    "project_roles": _labels(PROJECT_ROLES),
    "credit_kinds": _labels(("good", "bad")),
    "subject_kinds": _labels(("enterprise", "person")),
    "inspection_kinds": _labels(INSPECTION_KINDS),
    "inspection_results": _labels(INSPECTION_RESULTS),
}


@cache
def lookup(name: str) -> dict[str, str]:
    """Every spelling a file may use (code, Chinese label, English label; case-insensitive) -> the code."""
    spellings: dict[str, str] = {}
    for code, (zh, en) in ENUMERATIONS[name].items():
        for spelling in (code, zh, en):
            spellings[spelling.casefold()] = code
    return spellings

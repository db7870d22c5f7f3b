"""The enumerations the records accept: the core vocabularies (codes with Chinese and English
labels), under the names the record kinds (``kinds.json``) use."""

from __future__ import annotations

from functools import cache

from core import vocab

# enumeration name in kinds.json -> core vocabulary
VOCABULARIES = {
    "enterprise_types": "enterprise_types",
    "grades": "grades_credit",
    "safety_grades": "grades_safety",
    "person_kinds": "person_kinds",
    "project_types": "project_types",
    "project_stages": "stages",
    "project_roles": "project_roles",
    "credit_kinds": "credit_record_kinds",
    "subject_kinds": "subject_kinds",
    "inspection_kinds": "inspection_kinds",
    "inspection_results": "inspection_results",
    "sensor_kinds": "sensor_kinds",
}


def labels(name: str) -> dict[str, tuple[str, str]]:
    """``code -> (zh, en)`` of an enumeration."""
    return {t.code: (t.label.zh, t.label.en) for t in vocab.get(VOCABULARIES[name]).entries}


@cache
def lookup(name: str) -> dict[str, str]:
    """Every spelling a file may use (code, Chinese and English labels, aliases; case-insensitive) -> the code."""
    spellings: dict[str, str] = {}
    for term in vocab.get(VOCABULARIES[name]).entries:
        for spelling in (term.code, term.label.zh, term.label.en, *term.aliases):
            spellings[spelling.casefold()] = term.code
    return spellings

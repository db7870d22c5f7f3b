"""Read a profile: one statement, then masking for roles that may not see personal data."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from core.errors import NotFound
from core.privacy import decrypt_field, mask_name, mask_phone
from profiles.queries import PROFILES

KINDS = tuple(PROFILES)
# Sections that list people by name.
PEOPLE_SECTIONS = ("people",)


def profile(conn: Connection, kind: str, id_: str, personal: bool, today: date | None = None) -> dict[str, Any]:
    """The profile of ``kind`` ``id_`` (kind, id, title, location, record and its sections); names and
    phones masked unless ``personal``; undisclosed credit records only for roles that see personal data."""
    if kind not in PROFILES:
        raise NotFound(f"no profile kind {kind!r}: use {', '.join(KINDS)}")
    params = {"id": id_, "today": today or date.today(), "public": not personal}
    answer = conn.execute(text(PROFILES[kind]), params).scalar()
    if answer is None:
        raise NotFound(f"no {kind} {id_!r}: give a {'USCC' if kind == 'enterprise' else 'code or id'} that exists")
    answer = {"kind": kind, **answer}
    if kind == "person":  # the phone is stored encrypted (core.privacy)
        answer["record"]["phone"] = decrypt_field(answer["record"]["phone"])
    return answer if personal else _masked(answer)


def _masked(answer: dict[str, Any]) -> dict[str, Any]:
    if answer["kind"] == "person":
        record = answer["record"]
        record["name"] = answer["title"] = mask_name(record["name"])
        record["phone"] = mask_phone(record["phone"])
    for section in PEOPLE_SECTIONS:
        for person in answer.get(section, ()):
            person["name"] = mask_name(person["name"])
    return answer


def names_people(answer: dict[str, Any]) -> bool:
    """Whether a profile shows people (for the audit)."""
    return answer["kind"] == "person" or any(answer.get(s) for s in PEOPLE_SECTIONS)

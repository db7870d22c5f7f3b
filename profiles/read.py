"""Read a profile: one statement, then masking for roles that may not see personal data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, TextClause, text

from core.errors import NotFound
from core.privacy import decrypt_field, mask_name, mask_phone
from profiles.queries import PROFILES

KINDS = tuple(PROFILES)
# Sections that list people by name.
PEOPLE_SECTIONS = ("people",)
# SQL over a profile ``a.p`` of whether it names people (as :func:`names_people` tells); a kind left out never does.
_LISTS_PEOPLE = " OR ".join(f"json_array_length(a.p -> '{s}') > 0" for s in PEOPLE_SECTIONS)
_NAMES_PEOPLE = {"person": "TRUE", "enterprise": _LISTS_PEOPLE, "project": _LISTS_PEOPLE}


@lru_cache(maxsize=32)
def _statement(kind: str, write: str | None) -> TextClause:
    """The profile's statement, made once per kind; with ``write`` (SQL with ``{when}`` where its condition
    goes), one that also runs it exactly when the profile names people (:func:`names_people`)."""
    if write is None or kind not in _NAMES_PEOPLE:
        return text(PROFILES[kind])
    when = f"EXISTS (SELECT 1 FROM answer a WHERE {_NAMES_PEOPLE[kind]})"
    return text(f"WITH answer(p) AS ({PROFILES[kind]}), written AS ({write.format(when=when)}) SELECT p FROM answer")


def profile(
    conn: Connection,
    kind: str,
    id_: str,
    personal: bool,
    today: date | None = None,
    as_of: datetime | None = None,
    write_if_people: tuple[str, dict] | None = None,
) -> dict[str, Any]:
    """The profile of ``kind`` ``id_`` (kind, id, title, location, record and its sections); names and
    phones masked unless ``personal``; undisclosed credit records only for roles that see personal data.
    ``as_of``: a person's or project's record as its version then, employers and stages as known then.
    ``write_if_people``: a data-modifying statement (SQL with ``{when}`` where its condition goes, and its
    parameters) that the same statement runs exactly when the profile names people, committed with it
    (e.g. the read's audit row); not for use with ``as_of``, which may yet find the record was not on file."""
    if kind not in PROFILES:
        raise NotFound(f"no profile kind {kind!r}: use {', '.join(KINDS)}")
    params = {"id": id_, "today": today or date.today(), "public": not personal, "as_of": as_of or datetime.now(UTC)}
    write, extra = write_if_people or (None, {})
    answer = conn.execute(_statement(kind, write), params | extra).scalar()
    if answer is None:
        raise NotFound(f"no {kind} {id_!r}: give a {'USCC' if kind == 'enterprise' else 'code or id'} that exists")
    answer = {"kind": kind, **answer, "as_of": as_of}
    version, versioned = answer.pop("version", None), answer.pop("versioned", False)
    if as_of is not None and versioned:
        if version is None or version["data"] is None:
            raise NotFound(f"{kind} {id_!r} was not on record at {as_of.isoformat()}")
        _as_known(answer, version["data"])
    if kind == "person":  # the phone is stored encrypted (core.privacy)
        answer["record"]["phone"] = decrypt_field(answer["record"]["phone"])
    return answer if personal else _masked(answer)


# A record field whose stored column has another name.
STORED_AS = {"phone": "phone_enc"}


def _as_known(answer: dict[str, Any], data: dict[str, Any]) -> None:
    """The record's fields as a version held them (the title, the employer's name with them)."""
    record = answer["record"]
    for name in record:
        if STORED_AS.get(name, name) in data:
            record[name] = data[STORED_AS.get(name, name)]
    answer["title"] = record.get("name") or answer["title"]
    if "employer_name" in record:
        current = [e for e in answer["employers"] if e["current"]]
        record["employer_name"] = current[0]["name"] if current else None


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

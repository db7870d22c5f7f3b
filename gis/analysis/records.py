"""Business records linked to a feature: a project with its permits, filings, parties and people;
enterprises with credit; people masked unless the caller may see personal data."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from spatial_api.security import mask_phone

PARTY_ROLES = ("build_unit", "contractor", "supervisor", "designer", "surveyor")
LATEST_CREDIT_RECORDS = 3

_PROJECT = text(
    """SELECT code, name, type, stage, build_unit_uscc, contractor_uscc, supervisor_uscc, designer_uscc,
              surveyor_uscc, investment_cny::float AS investment_cny, floor_area_m2, address, planned_start,
              planned_end, hazardous_works, progress_pct
         FROM project WHERE code = :code"""
)
_PERMITS = text(
    """SELECT permit_no, issued_on, contract_price_cny::float AS contract_price_cny, area_m2, issuer, status
         FROM construction_permit WHERE project_code = :code ORDER BY issued_on, permit_no"""
)
_FILINGS = text(
    """SELECT filing_no, accepted_on, filed_on, archive_accepted
         FROM completion_filing WHERE project_code = :code ORDER BY filing_no"""
)
_ENTERPRISES = text(
    """SELECT e.uscc, e.name, e.type, e.status, e.credit_grade, e.credit_score, e.grade_date,
              COALESCE((SELECT json_agg(json_build_object('kind', r.kind, 'source', r.source,
                                  'description', r.description, 'score_impact', r.score_impact,
                                  'decided_on', r.decided_on) ORDER BY r.decided_on DESC, r.id DESC)
                          FROM (SELECT * FROM credit_record c
                                 WHERE c.subject_kind = 'enterprise' AND c.subject_id = e.uscc AND c.disclosed
                                 ORDER BY c.decided_on DESC, c.id DESC LIMIT :n) AS r), '[]'::json) AS latest_credit
         FROM enterprise e WHERE e.uscc = ANY(:ids)"""
)
_PEOPLE = text(
    """SELECT pp.role, p.id, p.name, p.id_card_masked, p.phone, p.kind, p.certificate_no, p.specialty,
              p.employer_uscc, e.name AS employer
         FROM project_person pp JOIN person p ON p.id = pp.person_id
         LEFT JOIN enterprise e ON e.uscc = p.employer_uscc
        WHERE pp.project_code = :code ORDER BY pp.role, p.id"""
)


def person(row: dict, personal: bool) -> dict:
    """A person as the caller may see them: the ID number is only ever masked; the phone is
    plain only for roles that may see personal data."""
    return {
        "id": row["id"],
        "name": row["name"],
        "id_card": row["id_card_masked"],
        "phone": row["phone"] if personal else mask_phone(row["phone"]),
        "kind": row["kind"],
        "certificate_no": row["certificate_no"],
        "specialty": row["specialty"],
        "employer_uscc": row["employer_uscc"],
        "employer": row["employer"],
    }


def enterprises(conn: Connection, usccs: Iterable[str]) -> dict[str, dict]:
    """Enterprises by USCC with their grade, score and latest disclosed credit records."""
    ids = sorted({u for u in usccs if u})
    if not ids:
        return {}
    rows = conn.execute(_ENTERPRISES, {"ids": ids, "n": LATEST_CREDIT_RECORDS}).mappings()
    return {r["uscc"]: dict(r) for r in rows}


def project(conn: Connection, code: str, personal: bool) -> dict | None:
    """A project with permits, completion filings, parties (with credit) and people by role."""
    row = conn.execute(_PROJECT, {"code": code}).mappings().first()
    if row is None:
        return None
    result = {k: v for k, v in row.items() if not k.endswith("_uscc")}
    result["permits"] = [dict(r) for r in conn.execute(_PERMITS, {"code": code}).mappings()]
    result["completion_filings"] = [dict(r) for r in conn.execute(_FILINGS, {"code": code}).mappings()]
    firms = enterprises(conn, (row[f"{role}_uscc"] for role in PARTY_ROLES))
    result["parties"] = {role: firms.get(row[f"{role}_uscc"]) for role in PARTY_ROLES if row[f"{role}_uscc"]}
    people: dict[str, list[dict]] = {}
    for r in conn.execute(_PEOPLE, {"code": code}).mappings():
        people.setdefault(r["role"], []).append(person(r, personal))
    result["people"] = people
    return result

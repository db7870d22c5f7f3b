"""Business records linked to a feature: a project with its permits, filings, parties and people;
enterprises with credit; people masked unless the caller may see personal data.

The records are built as JSON by PostgreSQL (SQL fragments that callers embed in their own
statement), so a whole side-panel answer costs one round trip.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from core.privacy import decrypt_field

PARTY_ROLES = ("build_unit", "contractor", "supervisor", "designer", "surveyor")
LATEST_CREDIT_RECORDS = 3


def enterprise_sql(uscc: str) -> str:
    """SQL of the enterprise with USCC ``uscc`` (an SQL expression) as JSON: grade, score and its
    latest disclosed credit records; NULL when there is none."""
    return f"""(SELECT json_build_object('uscc', e.uscc, 'name', e.name, 'type', e.type, 'status', e.status,
              'credit_grade', e.credit_grade, 'credit_score', e.credit_score, 'grade_date', e.grade_date,
              'latest_credit', COALESCE((SELECT json_agg(json_build_object('kind', r.kind, 'source', r.source,
                                  'description', r.description, 'score_impact', r.score_impact,
                                  'decided_on', r.decided_on) ORDER BY r.decided_on DESC, r.id DESC)
                          FROM (SELECT * FROM credit_record c
                                 WHERE c.subject_kind = 'enterprise' AND c.subject_id = e.uscc AND c.disclosed
                                 ORDER BY c.decided_on DESC, c.id DESC LIMIT {LATEST_CREDIT_RECORDS}) AS r),
                         '[]'::json))
         FROM enterprise e WHERE e.uscc = {uscc})"""


_PARTIES = ", ".join(f"('{role}', p.{role}_uscc)" for role in PARTY_ROLES)


def project_sql(code: str) -> str:
    """SQL of the project with code ``code`` (an SQL expression) as JSON: permits, completion filings,
    parties with credit and people by role (phones masked and encrypted: ``mask_people`` opens them per
    role); NULL when none."""
    return f"""(SELECT json_build_object('code', p.code, 'name', p.name, 'type', p.type, 'stage', p.stage,
              'investment_cny', p.investment_cny::float, 'floor_area_m2', p.floor_area_m2, 'address', p.address,
              'planned_start', p.planned_start, 'planned_end', p.planned_end,
              'hazardous_works', p.hazardous_works, 'progress_pct', p.progress_pct,
              'permits', COALESCE((SELECT json_agg(json_build_object('permit_no', c.permit_no,
                                      'issued_on', c.issued_on, 'contract_price_cny', c.contract_price_cny::float,
                                      'area_m2', c.area_m2, 'issuer', c.issuer, 'status', c.status)
                                    ORDER BY c.issued_on, c.permit_no)
                                    FROM construction_permit c WHERE c.project_code = p.code), '[]'::json),
              'completion_filings', COALESCE((SELECT json_agg(json_build_object('filing_no', f.filing_no,
                                      'accepted_on', f.accepted_on, 'filed_on', f.filed_on,
                                      'archive_accepted', f.archive_accepted) ORDER BY f.filing_no)
                                    FROM completion_filing f WHERE f.project_code = p.code), '[]'::json),
              'parties', (SELECT COALESCE(json_object_agg(party.role, {enterprise_sql("party.uscc")}), '{{}}'::json)
                            FROM (VALUES {_PARTIES}) AS party(role, uscc) WHERE party.uscc IS NOT NULL),
              'people', (SELECT COALESCE(json_object_agg(g.role, g.people), '{{}}'::json) FROM
                          (SELECT pp.role, json_agg(json_build_object('id', s.id, 'name', s.name,
                                      'id_card', s.id_card_masked, 'phone', s.phone_masked,
                                      'phone_enc', s.phone_enc, 'kind', s.kind,
                                      'certificate_no', s.certificate_no, 'specialty', s.specialty,
                                      'employer_uscc', s.employer_uscc, 'employer', w.name) ORDER BY s.id) AS people
                             {_people_of("p.code")} GROUP BY pp.role ORDER BY pp.role) AS g))
         FROM project p WHERE p.code = {code})"""


def _people_of(code: str) -> str:
    """SQL FROM and WHERE of the people (``s``, by role ``pp``, with employer ``w``) of the project with code
    ``code``: the one definition of whom a project's record names."""
    return f"""FROM project_person pp JOIN person s ON s.id = pp.person_id
                LEFT JOIN enterprise w ON w.uscc = s.employer_uscc WHERE pp.project_code = {code}"""


def names_people_sql(code: str) -> str:
    """SQL (boolean) of whether the record of the project with code ``code`` names people."""
    return f"EXISTS (SELECT 1 {_people_of(code)})"


_PROJECT = text(f"SELECT {project_sql(':code')}")


def mask_people(project: dict | None, personal: bool) -> dict | None:
    """A project record as the caller may see it: ID numbers are only ever masked; phones are
    decrypted only for roles that may see personal data, masked for the others."""
    if project:
        for group in project["people"].values():
            for person in group:
                sealed = person.pop("phone_enc")
                if personal and sealed is not None:
                    person["phone"] = decrypt_field(sealed)
    return project


def project(conn: Connection, code: str, personal: bool) -> dict | None:
    """A project with permits, completion filings, parties (with credit) and people by role."""
    return mask_people(conn.execute(_PROJECT, {"code": code}).scalar(), personal)

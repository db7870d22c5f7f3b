"""One statement per profile kind: the record and every section as one JSON object (one round trip).
Bound parameters: ``id``, ``today`` (for qualification and certificate validity), ``public`` (whether
undisclosed credit records are hidden) and ``as_of`` (the moment the record and the histories are
read at: what was known then, from the record's versions: ``records.history``)."""

from __future__ import annotations

from records import history, spec

VALIDITY = """CASE WHEN {column} IS NULL OR {column} > CAST(:today AS date) + 90 THEN 'valid'
                   WHEN {column} >= CAST(:today AS date) THEN 'expiring' ELSE 'expired' END"""


def _rows(select: str, order: str) -> str:
    """A JSON array of the rows of ``select`` (aliased ``r``) in ``order``; [] when there are none."""
    return f"(SELECT coalesce(json_agg(r ORDER BY {order}), '[]') FROM ({select}) AS r)"


def _credit(kind: str, subject: str) -> str:
    return _rows(
        f"""SELECT kind, source, description, score_impact, decided_on, valid_to FROM credit_record
             WHERE subject_kind = '{kind}' AND subject_id = {subject} AND (disclosed OR NOT :public)""",
        "r.decided_on DESC",
    )


def _penalties(kind: str, subject: str) -> str:
    return _rows(
        f"""SELECT decision_no, reason, amount_cny, decided_on, authority FROM penalty
             WHERE subject_kind = '{kind}' AND subject_id = {subject}""",
        "r.decided_on DESC",
    )


def _complaints(kind: str, target: str) -> str:
    return _rows(
        f"""SELECT id, channel, type, received_at, status, result FROM complaint
             WHERE target_kind = '{kind}' AND target_id = {target}""",
        "r.received_at DESC",
    )


def _versions(kind: str, key: str, row: str) -> str:
    """SQL of the versions of the record of ``kind`` whose row is ``row`` (key: ``key``, SQL)."""
    return history.versions_sql(spec.kinds()[kind], f"{key}::text", row)


def _versioned(kind: str, key: str, row: str) -> str:
    """Whether the record has versions at all (records from before versioning have none)."""
    return f"""({row}.version_from IS NOT NULL
                OR EXISTS (SELECT 1 FROM record_version v WHERE v.kind = '{kind}' AND v.key = {key}::text))"""


def _version(kind: str, key: str, row: str) -> str:
    """The record's version valid at ``:as_of`` (its data; null when it was deleted or unknown then),
    and whether it has versions at all."""
    at = history.valid_at_sql(_versions(kind, key, row), ":as_of")
    return f"""'version', (SELECT json_build_object('data', x.data) {at}),
  'versioned', {_versioned(kind, key, row)}"""


def _history(kind: str, key: str, row: str, field: str) -> str:
    """The runs of one field's value over a record's versions known by ``:as_of`` (``value``, ``since``,
    ``until``: null while it holds then), oldest first; a record without versions gets its present
    value with no dates. Consecutive versions with the same value make one run."""
    versions = f"""SELECT x.data->>'{field}' AS value, x.valid_from,
                          CASE WHEN x.valid_to > :as_of THEN NULL ELSE x.valid_to END AS valid_to,
                          x.data IS NULL AS deleted
                     FROM ({_versions(kind, key, row)}) x WHERE x.valid_from <= :as_of"""
    islands = f"""SELECT value, valid_from, valid_to, deleted,
                         row_number() OVER (ORDER BY valid_from)
                           - row_number() OVER (PARTITION BY value, deleted ORDER BY valid_from) AS run
                    FROM ({versions}) AS x"""
    runs = f"""SELECT value, min(valid_from) AS since,
                      CASE WHEN bool_or(valid_to IS NULL) THEN NULL ELSE max(valid_to) END AS until
                 FROM ({islands}) AS i WHERE NOT deleted AND value IS NOT NULL GROUP BY value, run"""
    return f"""CASE WHEN {_versioned(kind, key, row)}
       THEN {_rows(runs, "r.since")}
       ELSE (SELECT coalesce(json_agg(json_build_object('value', c, 'since', NULL, 'until', NULL)), '[]')
               FROM (SELECT {row}.{field} AS c) AS now WHERE c IS NOT NULL) END"""


PARTY_ROLES = ("build_unit", "contractor", "supervisor", "designer", "surveyor")
_PARTIES = " UNION ALL ".join(f"SELECT '{r}' AS role, {r}_uscc AS uscc, code FROM project" for r in PARTY_ROLES)

ENTERPRISE = f"""
SELECT json_build_object(
  'id', e.uscc, 'title', e.name, 'location', feature_location(e.location),
  'record', json_build_object('uscc', e.uscc, 'name', e.name, 'former_names', e.former_names, 'type', e.type,
      'legal_representative', e.legal_representative, 'address', e.address, 'district', e.district,
      'status', e.status, 'registered_on', e.registered_on, 'credit_grade', e.credit_grade,
      'credit_score', e.credit_score, 'grade_date', e.grade_date),
  'qualifications', {
    _rows(
        f'''SELECT certificate_no, category, grade, issued_on, expires_on, issuer,
                                      {VALIDITY.format(column="expires_on")} AS validity
                                 FROM qualification WHERE enterprise_uscc = e.uscc''',
        "r.expires_on",
    )
},
  'projects', {
    _rows(
        f'''SELECT p.code, p.name, p.stage, x.role, p.investment_cny
                           FROM ({_PARTIES}) AS x JOIN project p ON p.code = x.code WHERE x.uscc = e.uscc''',
        "r.code, r.role",
    )
},
  'people', {
    _rows(
        '''SELECT id, name, kind, certificate_no, specialty, valid_to FROM person
                       WHERE employer_uscc = e.uscc''',
        "r.id",
    )
},
  'credit_records', {_credit("enterprise", "e.uscc")},
  'penalties', {_penalties("enterprise", "e.uscc")},
  'complaints', {_complaints("enterprise", "e.uscc")},
  'grade_history', {
    _rows(
        '''SELECT grade, score, graded_on, rules_version, explanation FROM credit_grade_history
                              WHERE enterprise_uscc = e.uscc''',
        "r.graded_on DESC",
    )
})
FROM enterprise e WHERE e.uscc = :id"""

PERSON = f"""
SELECT json_build_object(
  'id', p.id, 'title', p.name, 'location', feature_location(e.location),
  'record', json_build_object('id', p.id, 'name', p.name, 'id_card_masked', p.id_card_masked, 'phone', p.phone_enc,
      'kind', p.kind, 'certificate_no', p.certificate_no, 'specialty', p.specialty,
      'employer_uscc', p.employer_uscc, 'employer_name', e.name, 'valid_to', p.valid_to,
      'real_name_verified', p.real_name_verified),
  'employers', (SELECT coalesce(json_agg(json_build_object('uscc', h.value, 'name', x.name, 'since', h.since,
                     'until', h.until, 'current', h.until IS NULL) ORDER BY h.since NULLS LAST), '[]')
                  FROM json_to_recordset({_history("people", "p.id", "p", "employer_uscc")})
                       AS h(value text, since timestamptz, until timestamptz)
                  LEFT JOIN enterprise x ON x.uscc = h.value),
  {_version("people", "p.id", "p")},
  'certificates', CASE WHEN p.certificate_no IS NULL THEN '[]'::json
                       ELSE json_build_array(json_build_object('certificate_no', p.certificate_no,
                           'specialty', p.specialty, 'kind', p.kind, 'valid_to', p.valid_to,
                           'validity', {VALIDITY.format(column="p.valid_to")})) END,
  'projects', {
    _rows(
        '''SELECT j.code, j.name, pp.role, j.stage FROM project_person pp
                         JOIN project j ON j.code = pp.project_code WHERE pp.person_id = p.id''',
        "r.code, r.role",
    )
},
  'credit_records', {_credit("person", "p.id")},
  'penalties', {_penalties("person", "p.id")})
FROM person p LEFT JOIN enterprise e ON e.uscc = p.employer_uscc WHERE p.id = :id"""

PROJECT = f"""
SELECT json_build_object(
  'id', p.code, 'title', p.name,
  'location', feature_location(coalesce(p.footprint, (SELECT geom FROM parcel WHERE code = p.parcel_code))),
  'record', json_build_object('code', p.code, 'name', p.name, 'type', p.type, 'stage', p.stage,
      'address', p.address, 'investment_cny', p.investment_cny, 'floor_area_m2', p.floor_area_m2,
      'planned_start', p.planned_start, 'planned_end', p.planned_end, 'progress_pct', p.progress_pct,
      'hazardous_works', p.hazardous_works, 'parcel_code', p.parcel_code),
  'parties', {
    _rows(
        f'''SELECT x.role, e.uscc, e.name, e.credit_grade FROM ({_PARTIES}) AS x
                          JOIN enterprise e ON e.uscc = x.uscc WHERE x.code = p.code''',
        "array_position(ARRAY" + str(list(PARTY_ROLES)) + "::text[], r.role)",
    )
},
  'people', {
    _rows(
        '''SELECT s.id, s.name, pp.role, s.certificate_no FROM project_person pp
                       JOIN person s ON s.id = pp.person_id WHERE pp.project_code = p.code''',
        "r.role, r.id",
    )
},
  'permits', {
    _rows(
        '''SELECT permit_no, issued_on, contract_price_cny, area_m2, issuer, status
                        FROM construction_permit WHERE project_code = p.code''',
        "r.issued_on",
    )
},
  'filings', {
    _rows(
        '''SELECT filing_no, accepted_on, filed_on, archive_accepted FROM completion_filing
                        WHERE project_code = p.code''',
        "r.filed_on",
    )
},
  'buildings', {
    _rows(
        '''SELECT code, address, use, floors_above, height_m, safety_grade FROM building
                          WHERE project_code = p.code''',
        "r.code",
    )
},
  'bim_models', {
    _rows(
        '''SELECT m.id, m.name, count(v.id) AS versions, max(v.version_no) AS latest_version,
                                 (array_agg(v.status ORDER BY v.version_no DESC))[1] AS latest_status
                            FROM bim_model m LEFT JOIN bim_model_version v ON v.model_id = m.id
                           WHERE m.project_code = p.code GROUP BY m.id''',
        "r.id",
    )
},
  'reviews', {
    _rows(
        '''SELECT d.id, d.agency, d.drawing_type, d.round, d.status, d.decided_at,
                              count(i.id) AS issues, count(i.id) FILTER (WHERE NOT i.resolved) AS open_issues
                         FROM drawing_review d LEFT JOIN review_issue i ON i.review_id = d.id
                        WHERE d.project_code = p.code GROUP BY d.id''',
        "r.id",
    )
},
  'stage_history', (SELECT coalesce(json_agg(json_build_object('stage', h.value, 'since', h.since,
                         'until', h.until, 'current', h.until IS NULL) ORDER BY h.since NULLS LAST), '[]')
                      FROM json_to_recordset({_history("projects", "p.code", "p", "stage")})
                           AS h(value text, since timestamptz, until timestamptz)),
  {_version("projects", "p.code", "p")},
  'complaints', {_complaints("project", "p.code")})
FROM project p WHERE p.code = :id"""

BUILDING = f"""
SELECT json_build_object(
  'id', b.code, 'title', coalesce(b.address, b.code), 'location', feature_location(b.footprint),
  'record', json_build_object('code', b.code, 'address', b.address, 'use', b.use, 'structure', b.structure,
      'height_m', b.height_m, 'floors_above', b.floors_above, 'floors_below', b.floors_below,
      'year_built', b.year_built, 'safety_grade', b.safety_grade, 'last_inspection', b.last_inspection,
      'project_code', b.project_code, 'parcel_code', b.parcel_code),
  'units', {
    _rows(
        '''SELECT unit_no, floor, area_m2, ownership_cert, owner_masked, residents, contract_filing_no
                      FROM house_unit WHERE building_code = b.code''',
        "r.floor, r.unit_no",
    )
},
  'appraisals', CASE WHEN b.safety_grade IS NULL AND b.last_inspection IS NULL THEN '[]'::json
                     ELSE json_build_array(json_build_object('safety_grade', b.safety_grade,
                                                             'last_inspection', b.last_inspection)) END,
  'projects', {
    _rows(
        '''SELECT code, name, stage, planned_start, planned_end,
                               CASE WHEN code = b.project_code THEN 'built_by' ELSE 'on_parcel' END AS relation
                          FROM project WHERE code = b.project_code OR parcel_code = b.parcel_code''',
        "r.relation, r.planned_start DESC NULLS LAST",
    )
},
  'complaints', {_complaints("building", "b.code")})
FROM building b WHERE b.code = :id"""

PROFILES = {"enterprise": ENTERPRISE, "person": PERSON, "project": PROJECT, "building": BUILDING}

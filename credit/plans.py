"""Supervision by grade: the month's inspection list from the grades and the active ruleset's
measures. An enterprise whose measure asks for n routine inspections a year is listed in n of the
12 months (spread by its code), and in any month drawn for its grade's spot-check share (双随机)."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import UserError
from credit import rulesets
from credit.aggregates import ACTIVE_STAGES

_PLAN = """
WITH m AS (SELECT key AS grade, value AS measure, (value ->> 'inspections_per_year')::int AS n,
                  (value ->> 'spot_check_share')::float AS share
           FROM jsonb_each(CAST(:measures AS jsonb))),
     e AS (SELECT e.uscc, e.name, e.type, e.district, e.credit_grade, e.credit_score, m.measure, m.n, m.share,
                  (hashtext(e.uscc)::bigint % 12 + 12 + :month) % 12 AS slot,
                  ('x' || substr(md5(e.uscc || :ym), 1, 8))::bit(32)::bigint / 4294967296.0 AS draw
           FROM enterprise e JOIN m ON m.grade = e.credit_grade WHERE e.type = ANY(:types))
SELECT uscc, name, type, district, credit_grade AS grade, credit_score AS score, measure,
       floor((slot + 1) * n / 12.0) > floor(slot * n / 12.0) AS routine, draw < share AS spot_check,
       coalesce((SELECT array_agg(p.code ORDER BY p.code) FROM project p WHERE p.stage = ANY(:stages)
                 AND uscc IN (p.contractor_uscc, p.build_unit_uscc, p.supervisor_uscc, p.designer_uscc,
                              p.surveyor_uscc)), '{}') AS sites
FROM e
WHERE floor((slot + 1) * n / 12.0) > floor(slot * n / 12.0) OR draw < share
ORDER BY credit_grade DESC, credit_score, uscc
"""


def month_plan(session: Session, month: str) -> list[dict[str, Any]]:
    """The inspection list of a month ``YYYY-MM``: enterprises, why, their measures and active sites."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise UserError(f"month must look like 2026-07, not {month!r}")
    out: list[dict[str, Any]] = []
    for ruleset in rulesets.active(session):
        measures = ruleset.settings.get("measures") or {}
        if not measures:
            continue
        rows = session.execute(
            text(_PLAN),
            {
                "measures": json.dumps(measures),
                "month": int(month[5:]),
                "ym": month,
                "types": list(ruleset.enterprise_types),
                "stages": list(ACTIVE_STAGES),
            },
        ).mappings()
        out.extend(dict(r) | {"ruleset_version": ruleset.version} for r in rows)
    return out

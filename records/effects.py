"""What a change of one kind sets elsewhere, named in ``kinds.json`` (``effects``): e.g. a building's
safety grade is its latest appraisal's. Each runs in the writer's transaction over the changed keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

EFFECTS: dict[str, str] = {
    # 房屋安全鉴定: the building's grade is the latest appraisal's
    "building_safety_grade": """
        UPDATE building b SET safety_grade = a.grade FROM (
            SELECT DISTINCT ON (building_code) building_code, grade FROM safety_appraisal
             WHERE building_code IN (SELECT building_code FROM safety_appraisal WHERE appraisal_no = ANY(:keys))
             ORDER BY building_code, appraised_on DESC, appraisal_no DESC) a
         WHERE b.code = a.building_code AND b.safety_grade IS DISTINCT FROM a.grade""",
}


def run(conn: Connection, names: Sequence[str], keys: Sequence[str]) -> dict[str, int]:
    """Run the named effects over the changed keys; rows each one changed."""
    return {name: conn.execute(text(EFFECTS[name]), {"keys": list(keys)}).rowcount for name in names if keys}

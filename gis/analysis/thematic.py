"""Business values per feature id, for 3D Tiles styles over tiles that stay as they are."""

from __future__ import annotations

from sqlalchemy import Connection, text

from core.errors import NotFound, UserError
from core.models.bim import CITY_VERSION_IDS_SQL

GRADE_LEGEND = {
    "A": {"label": "A 守信", "color": "#1a9850"},
    "B": {"label": "B 基本守信", "color": "#91cf60"},
    "C": {"label": "C 失信风险", "color": "#fc8d59"},
    "D": {"label": "D 严重失信 / 危房", "color": "#d73027"},
}
STAGE_LEGEND = {
    "approval": {"label": "立项用地规划 approval and land", "color": "#9e9ac8"},
    "preparation": {"label": "工程准备 preparation", "color": "#fdae61"},
    "construction": {"label": "施工 construction", "color": "#f46d43"},
    "acceptance": {"label": "验收 acceptance", "color": "#66bd63"},
    "delivered": {"label": "交付及管理 delivered", "color": "#3288bd"},
}
UNKNOWN = {"label": "no record", "color": "#bdbdbd"}

# The elements on the city map, as in the bim tiles: each GlobalId from the newest published
# version of its model (the newest version when two models share it).
_CITY_ELEMENTS = f"""(SELECT DISTINCT ON (e.global_id) e.global_id, m.project_code FROM bim_element e
    JOIN bim_model_version v ON v.id = e.version_id JOIN bim_model m ON m.id = v.model_id
   WHERE v.id IN {CITY_VERSION_IDS_SQL} ORDER BY e.global_id, v.id DESC)"""
# (layer, theme) -> (SQL giving id, value; legend)
THEMES: dict[tuple[str, str], tuple[str, dict]] = {
    ("buildings", "safety_grade"): ("SELECT code, safety_grade FROM building", GRADE_LEGEND),
    ("buildings", "contractor_grade"): (
        """SELECT b.code, e.credit_grade FROM building b LEFT JOIN project p ON p.code = b.project_code
                  LEFT JOIN enterprise e ON e.uscc = p.contractor_uscc""",
        GRADE_LEGEND,
    ),
    ("buildings", "project_stage"): (
        "SELECT b.code, p.stage FROM building b LEFT JOIN project p ON p.code = b.project_code",
        STAGE_LEGEND,
    ),
    ("projects", "contractor_grade"): (
        "SELECT p.code, e.credit_grade FROM project p LEFT JOIN enterprise e ON e.uscc = p.contractor_uscc",
        GRADE_LEGEND,
    ),
    ("projects", "project_stage"): ("SELECT code, stage FROM project", STAGE_LEGEND),
    ("bim", "contractor_grade"): (
        f"""SELECT e.global_id, en.credit_grade FROM {_CITY_ELEMENTS} e
                  LEFT JOIN project p ON p.code = e.project_code
                  LEFT JOIN enterprise en ON en.uscc = p.contractor_uscc""",
        GRADE_LEGEND,
    ),
    ("bim", "project_stage"): (
        f"SELECT e.global_id, p.stage FROM {_CITY_ELEMENTS} e LEFT JOIN project p ON p.code = e.project_code",
        STAGE_LEGEND,
    ),
}
LAYERS = sorted({layer for layer, _ in THEMES})


def thematic(conn: Connection, layer: str, theme: str) -> dict:
    """``{layer, theme, values: {id: value or null}, legend: {value: {label, color}}, unknown}``."""
    if layer not in LAYERS:
        raise NotFound(f"no themes for layer {layer!r}; layers: {', '.join(LAYERS)}")
    entry = THEMES.get((layer, theme))
    if entry is None:
        themes = [t for lay, t in THEMES if lay == layer]
        raise UserError(f"layer {layer!r} has no theme {theme!r}; one of: {', '.join(themes)}")
    sql, legend = entry
    values = {fid: value for fid, value in conn.execute(text(sql))}
    return {"layer": layer, "theme": theme, "values": values, "legend": legend, "unknown": UNKNOWN}

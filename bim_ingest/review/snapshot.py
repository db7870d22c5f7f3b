"""Server-side snapshots for BCF topics: a plan of the model version's element footprints (store
CRS, from bim_element) with the topic's elements drawn in red, as PNG."""

from __future__ import annotations

import io

import shapely
from PIL import Image, ImageDraw
from sqlalchemy import text
from sqlalchemy.orm import Session

SIZE = 512
MARGIN = 24


def _rings(geometry: shapely.Geometry) -> list:
    polygons = shapely.get_parts(geometry)
    return [p.exterior.coords for p in polygons if p.geom_type == "Polygon" and not p.is_empty]


def plan_snapshots(session: Session, version_id: int, highlighted: dict[str, list[str]]) -> dict[str, bytes]:
    """One PNG per key of ``highlighted`` (key -> GlobalIds drawn in red over every footprint)."""
    rows = session.execute(
        text(
            "SELECT global_id, ST_AsBinary(footprint) AS g FROM bim_element"
            " WHERE version_id = :v AND footprint IS NOT NULL"
        ),
        {"v": version_id},
    ).all()
    footprints = {r.global_id: shapely.from_wkb(bytes(r.g)) for r in rows}
    if not footprints:
        return {}
    x0, y0, x1, y1 = shapely.total_bounds(list(footprints.values()))
    scale = (SIZE - 2 * MARGIN) / max(x1 - x0, y1 - y0, 1e-6)

    def pixel(coords) -> list[tuple[float, float]]:
        return [(MARGIN + (x - x0) * scale, SIZE - MARGIN - (y - y0) * scale) for x, y, *_ in coords]

    base = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(base)
    for geometry in footprints.values():
        for ring in _rings(geometry):
            draw.polygon(pixel(ring), fill=(225, 225, 225), outline=(120, 120, 120))
    found = {}
    for key, global_ids in highlighted.items():
        image = base.copy()
        draw = ImageDraw.Draw(image)
        for global_id in global_ids:
            for ring in _rings(footprints.get(global_id, shapely.Polygon())):
                draw.polygon(pixel(ring), fill=(220, 40, 40), outline=(140, 0, 0))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        found[key] = buffer.getvalue()
    return found

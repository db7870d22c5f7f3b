"""The demo's BIM models: small buildings authored with ``ifcopenshell.api`` on vacant parcels of
sample projects in preparation (drawings approved, works not started), georeferenced with
IfcMapConversion (one in IFC2X3 with ePSet_MapConversion); the demo ingests and publishes them so
that the city's BIM layer shows them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text

from core.db import get_engine
from core.settings import get_settings
from gis.dem import ground_heights
from sample_models.ifc_models import author_building

# storeys, width, depth (m), rotation (degrees from grid east), schema
DESIGNS = (
    (6, 24.0, 14.0, 0.0, "IFC4"),
    (4, 18.0, 12.0, 15.0, "IFC2X3"),
    (9, 20.0, 16.0, -10.0, "IFC4"),
)

_SITES = text(
    """
    SELECT pr.code, pr.name, pa.code AS parcel, ST_X(ST_Centroid(pa.geom)) AS x, ST_Y(ST_Centroid(pa.geom)) AS y
    FROM project pr JOIN parcel pa ON pa.code = pr.parcel_code
    WHERE pr.stage = 'preparation' AND pr.type = 'building'
      AND NOT EXISTS (SELECT 1 FROM building b WHERE b.parcel_code = pa.code)
      AND ST_Area(pa.geom) > 2500
    ORDER BY pr.code LIMIT :n
    """
)


def author_demo_models(count: int = len(DESIGNS)) -> list[dict[str, Any]]:
    """Author up to ``count`` models (one per project): each one's path, project, parcel and model name."""
    with get_engine().connect() as conn:
        sites = conn.execute(_SITES, {"n": min(count, len(DESIGNS))}).mappings().all()
    folder = Path(get_settings().data_dir) / "sample" / "ifc"
    folder.mkdir(parents=True, exist_ok=True)
    authored = []
    for site, (storeys, width, depth, rotation, schema) in zip(sites, DESIGNS, strict=False):
        # the local origin (the south-west outer corner) such that the footprint's centre is the parcel's
        c, s = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
        east = site["x"] - (c * width - s * depth) / 2
        north = site["y"] - (s * width + c * depth) / 2
        ground = float(ground_heights(np.array([[site["x"], site["y"]]]))[0])
        path = author_building(
            folder / f"{site['code']}.ifc",
            eastings=round(east, 3),
            northings=round(north, 3),
            height=round(ground, 3),
            rotation_deg=rotation,
            storeys=storeys,
            width=width,
            depth=depth,
            storey_height=3.2,
            schema=schema,
            name=site["name"],
        )
        authored.append(
            {
                "path": path,
                "project_code": site["code"],
                "parcel": site["parcel"],
                "model_name": f"{site['code']} design model",
            }
        )
    return authored

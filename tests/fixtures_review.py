"""Test fixtures for the review tests (loaded by tests/conftest.py): a review project on a
sample-city parcel, spots chosen from the city's rows, and element geometry computed on its own
(ifcopenshell + the placement) to check the review's numbers against."""

from __future__ import annotations

import math
from dataclasses import dataclass

import ifcopenshell
import ifcopenshell.geom
import numpy as np
import pytest
import shapely
from sqlalchemy import text

REVIEW_PROJECT = "RV-TEST-001"


@dataclass
class Site:
    project: str
    parcel: str
    parcel_geom: shapely.Polygon
    height_limit_m: float
    setback_m: float
    spot: tuple[float, float]  # free of pipes, tunnels and red lines: for clean buildings


@pytest.fixture(scope="session")
def review_site(sample_city, database) -> Site:
    """A project of our own on the largest parcel with every limit, and a free spot in it."""
    with database.begin() as conn:
        row = conn.execute(
            text(
                """
                WITH candidates AS (
                    SELECT p.code, p.geom, p.height_limit_m, coalesce(p.min_setback_m, 5) AS setback,
                           ST_Difference(ST_Buffer(p.geom, -20),
                               ST_Union(ARRAY[
                                 (SELECT ST_Union(ST_Buffer(r.red_line, coalesce(p.min_setback_m, 5) + 20))
                                  FROM road r WHERE ST_DWithin(r.red_line, p.geom, 100)),
                                 (SELECT ST_Union(ST_Buffer(l.geom, 15)) FROM pipeline l
                                  WHERE ST_DWithin(l.geom, p.geom, 50)),
                                 (SELECT ST_Union(ST_Buffer(t.axis, 20)) FROM utility_tunnel t
                                  WHERE ST_DWithin(t.axis, p.geom, 50)),
                                 ST_GeomFromText('POLYGON EMPTY', ST_SRID(p.geom))])) AS free
                    FROM parcel p
                    WHERE p.height_limit_m >= 15 AND p.max_plot_ratio IS NOT NULL AND p.max_density IS NOT NULL
                )
                SELECT code, ST_AsBinary(geom) AS g, height_limit_m, setback, ST_X(ST_PointOnSurface(free)) AS x,
                       ST_Y(ST_PointOnSurface(free)) AS y
                FROM candidates WHERE NOT ST_IsEmpty(free) AND ST_Area(free) > 400
                ORDER BY ST_Area(free) DESC LIMIT 1
                """
            )
        ).first()
        assert row is not None, "the sample city has no parcel with room for a review building"
        conn.execute(
            text(
                """
                INSERT INTO project (code, name, type, stage, parcel_code, hazardous_works, progress_pct)
                VALUES (:c, 'Drawing review test building', 'building', 'approval', :p, false, 0)
                ON CONFLICT (code) DO NOTHING
                """
            ),
            {"c": REVIEW_PROJECT, "p": row.code},
        )
    return Site(
        REVIEW_PROJECT, row.code, shapely.from_wkb(bytes(row.g)), row.height_limit_m, row.setback, (row.x, row.y)
    )


def ground_at(x: float, y: float) -> float:
    from gis.dem import ground_heights

    return float(ground_heights(np.array([[x, y]]))[0])


def store_meshes(path, eastings: float, northings: float, height: float, rotation_deg: float) -> dict[str, dict]:
    """Each element's triangles in the store CRS, from IfcOpenShell's geometry and the map
    conversion the model was authored with (the map CRS is the store CRS, so it is a rigid motion)."""
    model = ifcopenshell.open(str(path))
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    iterator = ifcopenshell.geom.iterator(settings, model, 1, exclude=model.by_type("IfcOpeningElement"))
    c, s = math.cos(math.radians(rotation_deg)), math.sin(math.radians(rotation_deg))
    found: dict[str, dict] = {}
    assert iterator.initialize()
    while True:
        shape = iterator.get()
        local = np.asarray(shape.geometry.verts, dtype=float).reshape(-1, 3)
        world = np.column_stack(
            (
                eastings + c * local[:, 0] - s * local[:, 1],
                northings + s * local[:, 0] + c * local[:, 1],
                height + local[:, 2],
            )
        )
        faces = np.asarray(shape.geometry.faces, dtype=int).reshape(-1, 3)
        element = model.by_guid(shape.guid)
        found[shape.guid] = {"verts": world, "faces": faces, "ifc_class": element.is_a(), "name": element.Name}
        if not iterator.next():
            break
    return found

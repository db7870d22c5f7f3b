"""Test fixtures for the review tests (loaded by tests/conftest.py): a review project on a
sample-city parcel, spots chosen from the city's rows, and element geometry computed on its own
(ifcopenshell + the placement) to check the review's numbers against."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.element
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


def spot_placement(site: Site, **extra) -> dict:
    """author_building's placement of a building on the site's free spot, unturned, on the ground."""
    x, y = site.spot
    return {"eastings": x, "northings": y, "height": ground_at(x, y), "rotation_deg": 0.0} | extra


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
        storey = ifcopenshell.util.element.get_container(element) or ifcopenshell.util.element.get_aggregate(element)
        found[shape.guid] = {
            "verts": world,
            "faces": faces,
            "ifc_class": element.is_a(),
            "name": element.Name,
            "predefined_type": ifcopenshell.util.element.get_predefined_type(element),
            "storey": storey.Name if storey is not None and storey.is_a("IfcBuildingStorey") else None,
        }
        if not iterator.next():
            break
    return found


# Independent expectations: each from the authored geometry (store_meshes) and the city's rows
# read with raw SQL, measured with shapely or PostGIS, never through the review's code.


def insert_parcel(conn, code: str, polygon: shapely.Polygon, **limits) -> None:
    """A parcel of the test's own (``limits``: land_use, height_limit_m, max_plot_ratio, max_density,
    min_setback_m); kept if it exists."""
    conn.execute(
        text(
            """INSERT INTO parcel (code, land_use, height_limit_m, max_plot_ratio, max_density, min_setback_m, geom)
               VALUES (:code, :land_use, :height_limit_m, :max_plot_ratio, :max_density, :min_setback_m,
                       ST_GeomFromText(:wkt, 4549))
               ON CONFLICT (code) DO NOTHING"""
        ),
        {"code": code, "wkt": polygon.wkt, **limits},
    )


def insert_project(conn, code: str, parcel_code: str, name: str, project_type: str = "building") -> None:
    conn.execute(
        text(
            """INSERT INTO project (code, name, type, stage, parcel_code, hazardous_works, progress_pct)
               VALUES (:c, :n, :t, 'approval', :p, false, 0) ON CONFLICT (code) DO NOTHING"""
        ),
        {"c": code, "n": name, "t": project_type, "p": parcel_code},
    )


def parcel_row(conn, code: str) -> dict:
    row = (
        conn.execute(
            text(
                """SELECT code, height_limit_m, max_plot_ratio, max_density, min_setback_m, ST_AsBinary(geom) AS g
                   FROM parcel WHERE code = :c"""
            ),
            {"c": code},
        )
        .mappings()
        .one()
    )
    return dict(row) | {"geom": shapely.from_wkb(bytes(row["g"]))}


def hull(mesh: dict) -> shapely.Geometry:
    """An element's footprint: the convex hull of its authored vertices in plan."""
    return shapely.MultiPoint(mesh["verts"][:, :2]).convex_hull


def ground_under(meshes: dict[str, dict]) -> float:
    """Mean DEM height at the corners of the model's plan outline (its convex hull)."""
    outline = shapely.union_all([hull(m) for m in meshes.values()]).convex_hull
    return float(np.mean([ground_at(x, y) for x, y in outline.exterior.coords[:-1]]))


def above_ground(meshes: dict[str, dict], ground: float) -> set[str]:
    return {g for g, m in meshes.items() if m["verts"][:, 2].max() > ground + 0.01}


def over_parcel(meshes: dict[str, dict], parcel: shapely.Geometry) -> dict[str, float]:
    """How far each element's farthest vertex lies outside the parcel (0 inside)."""
    return {g: float(shapely.distance(shapely.points(m["verts"][:, :2]), parcel).max()) for g, m in meshes.items()}


def red_lines(conn) -> list[tuple[str, shapely.Geometry]]:
    rows = conn.execute(text("SELECT code, ST_AsBinary(red_line) FROM road ORDER BY code"))
    return [(code, shapely.from_wkb(bytes(wkb))) for code, wkb in rows]


def nearest_red_line(mesh: dict, roads: list[tuple[str, shapely.Geometry]]) -> tuple[float, str]:
    return min((float(hull(mesh).distance(red_line)), code) for code, red_line in roads)


def tin_wkt(mesh: dict) -> str:
    triangles = mesh["verts"][mesh["faces"]]
    return (
        "TIN Z ("
        + ",".join("((" + ",".join(f"{x:.4f} {y:.4f} {z:.4f}" for x, y, z in (*t, t[0])) + "))" for t in triangles)
        + ")"
    )


def pipe_clearances(conn, meshes: dict[str, dict], search_m: float = 10.0) -> dict[tuple[str, str], dict]:
    """Clearance from every element to the outer wall of every pipe within ``search_m`` in plan:
    raw PostGIS ST_3DDistance between the pipe's axis and a TIN of the element's authored
    triangles, less the pipe's radius (0 where the pipe runs through it)."""
    found = {}
    for global_id, mesh in meshes.items():
        (x0, y0), (x1, y1) = mesh["verts"][:, :2].min(axis=0), mesh["verts"][:, :2].max(axis=0)
        rows = conn.execute(
            text(
                """SELECT id, utility, diameter_mm, ST_3DDistance(ST_GeomFromText(:tin, 4549), geom) AS axis_distance
                   FROM pipeline WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4549)"""
            ),
            {"tin": tin_wkt(mesh), "x0": x0 - search_m, "y0": y0 - search_m, "x1": x1 + search_m, "y1": y1 + search_m},
        )
        for r in rows:
            radius = (r.diameter_mm or 0) / 2000
            found[(global_id, r.id)] = {
                "utility": r.utility,
                "clearance": max(r.axis_distance - radius, 0.0),
                "crossing": r.axis_distance <= radius,
            }
    return found


def site_issues(conn, meshes: dict[str, dict], parcel: shapely.Geometry, setback_m: float) -> dict[tuple, float]:
    """The per-element issues the model's place alone brings, keyed (rule, GlobalId, pipe id or
    None) with the measured value: pipes within their clearance (GB 50289 table, the limit), the
    farthest vertex over the parcel line, and above-ground elements inside the setback."""
    from bim_ingest.review import rules

    expected: dict[tuple, float] = {
        (rules.CLASH_PIPELINE, g, pipe_id): p["clearance"]
        for (g, pipe_id), p in pipe_clearances(conn, meshes).items()
        if p["clearance"] < rules.PIPE_CLEARANCE_M[p["utility"]] - 0.01
    }
    expected |= {(rules.INSIDE_PARCEL, g, None): d for g, d in over_parcel(meshes, parcel).items() if d > 0.01}
    roads = red_lines(conn)
    above = above_ground(meshes, ground_under(meshes)) or set(meshes)
    for g in above:
        distance, _ = nearest_red_line(meshes[g], roads)
        if distance < setback_m - 0.01:
            expected[(rules.SETBACK, g, None)] = distance
    return expected


def found_issues(document: dict) -> dict[tuple, dict]:
    """The review's issues keyed like :func:`site_issues` (each key once)."""
    found = {(i["rule"], i["global_id"], i["details"].get("pipeline_id")): i for i in document["issues"]}
    assert len(found) == len(document["issues"]), "an element has the same issue twice"
    return found


# buildingSMART's BCF XSDs (CC BY-ND 4.0, buildingSMART International) as IfcOpenShell ships them
# verbatim in bcf-client's source distribution on PyPI: fetched once with pip into .data (not in git).
BCF_SCHEMA_SDIST = "bcf-client==0.7.10"
BCF_SCHEMA_SHA256 = "02400bc352b6c914cd1073d545a95420e209d417e4763b9f1534b3e1a2e30f7e"


@pytest.fixture(scope="session")
def bcf_schemas() -> dict[str, Path]:
    """The folder of each BCF version's XSDs ("3.0", "2.1"), fetched from PyPI on first use."""
    cache = Path(".data/bcf-xsd").resolve()
    folders = {"3.0": cache / "v3", "2.1": cache / "v2"}
    if not all((f / "markup.xsd").exists() for f in folders.values()):
        with tempfile.TemporaryDirectory(prefix="cim-bcf-xsd-") as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                 "--dest", tmp, BCF_SCHEMA_SDIST],
                check=True,
            )  # fmt: skip
            [sdist] = Path(tmp).glob("bcf_client-*.tar.gz")
            assert hashlib.sha256(sdist.read_bytes()).hexdigest() == BCF_SCHEMA_SHA256, f"{sdist.name} changed"
            with tarfile.open(sdist) as archive:
                for member in archive.getmembers():
                    parts = Path(member.name).parts
                    if member.isfile() and parts[-2:-1] == ("xsd",) and parts[-3] in ("v2", "v3"):
                        target = cache / parts[-3] / parts[-1]
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]
    return folders

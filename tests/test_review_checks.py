"""The review on models with known defects finds exactly those defects, with the right elements
and values; a clean model passes. Expected values come from the authored geometry (IfcOpenShell
+ the placement), shapely and trimesh, not from the review's own code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from sqlalchemy import text

from bim_ingest.review import rules
from bim_ingest.review.service import run_review
from sample_models.review_models import author_review_model
from tests.fixtures_review import ground_at, store_meshes

WIDTH, DEPTH = 12.0, 8.0


def _place(site, x, y, rotation=0.0):
    return {
        "eastings": x,
        "northings": y,
        "height": ground_at(x, y),
        "rotation_deg": rotation,
        "width": WIDTH,
        "depth": DEPTH,
    }


def _issues(document, rule=None):
    return [i for i in document["issues"] if rule is None or i["rule"] == rule]


def test_clean_model_passes(review_site, tmp_path):
    placement = _place(review_site, *review_site.spot)
    model = author_review_model(tmp_path / "clean.ifc", storeys=3, storey_height=3.0, **placement)
    document = run_review(model["path"], review_site.project)
    assert document["issues"] == []
    assert document["report"]["passed"] is True
    assert document["status"] == "in_review"
    checks = {c["rule"]: c for c in document["report"]["planning"]["checks"]}
    parcel_area = review_site.parcel_geom.area
    assert checks[rules.PLOT_RATIO]["measured"] == pytest.approx(3 * WIDTH * DEPTH / parcel_area, rel=1e-3)
    assert checks[rules.DENSITY]["measured"] == pytest.approx(WIDTH * DEPTH / parcel_area, rel=1e-3)
    assert checks[rules.HEIGHT]["measured"] == pytest.approx(9.2, abs=0.15)
    assert all(c["passed"] for c in checks.values())


def test_wall_without_fire_rating(review_site, tmp_path):
    placement = _place(review_site, *review_site.spot)
    model = author_review_model(tmp_path / "nofire.ifc", missing_fire_rating=True, storeys=2, **placement)
    document = run_review(model["path"], review_site.project)
    assert [(i["rule"], i["global_id"]) for i in document["issues"]] == [
        (rules.IDS_PREFIX + "CIM-03 walls: fire rating and exterior flag", model["wall_without_fire_rating"])
    ]
    assert "FireRating" in document["issues"][0]["message"]


def test_building_3_m_over_height_limit(review_site, tmp_path):
    limit = review_site.height_limit_m
    # the roof slab's top at limit + 3 m, and no storey's top (floor slab or wall) near the limit
    for storeys in range(math.ceil((limit + 2.8) / 3.6), 60):
        storey_height = (limit + 2.8) / storeys
        levels = [k * storey_height + d for k in range(storeys + 1) for d in (0.0, 0.2)]
        if min(abs(z - limit) for z in levels) > 0.4:
            break
    x, y = review_site.spot
    placement = _place(review_site, x, y)
    model = author_review_model(tmp_path / "tall.ifc", storeys=storeys, storey_height=storey_height, **placement)
    meshes = store_meshes(model["path"], x, y, placement["height"], 0.0)
    footprint = shapely.box(x, y, x + WIDTH, y + DEPTH)
    ground = float(np.mean([ground_at(px, py) for px, py in footprint.exterior.coords[:-1]]))
    tops = {g: m["verts"][:, 2].max() - ground for g, m in meshes.items()}
    expected = {g for g, top in tops.items() if top > limit + 0.01}
    assert all(abs(top - limit) > 0.2 for top in tops.values()), "storey tops must not sit on the limit"
    document = run_review(model["path"], review_site.project)
    found = {i["global_id"]: i for i in document["issues"]}
    assert {i["rule"] for i in document["issues"]} == {rules.HEIGHT}
    assert set(found) == expected
    for global_id, issue in found.items():
        assert issue["measured"] == pytest.approx(tops[global_id], abs=0.02)
        assert issue["limit"] == limit
    roof = next(g for g, m in meshes.items() if m["name"] == "Roof")
    assert found[roof]["measured"] == pytest.approx(limit + 3.0, abs=0.1)


def test_corner_1_m_over_the_parcel_line(review_site, tmp_path, database):
    with database.begin() as conn:
        # of all parcel edges, the one farthest from any road red line (parcels on a block's
        # inside edge), so that the corner over the line breaks no setback
        edge = conn.execute(
            text(
                """
                WITH edges AS (
                    SELECT code, ST_MakeLine(ST_PointN(ring, i), ST_PointN(ring, i + 1)) AS e
                    FROM (SELECT code, ST_ExteriorRing(geom) AS ring FROM parcel
                          WHERE height_limit_m >= 15 AND max_plot_ratio IS NOT NULL AND max_density IS NOT NULL) r,
                         generate_series(1, ST_NPoints(ring) - 1) AS i
                )
                SELECT code, ST_X(ST_StartPoint(e)), ST_Y(ST_StartPoint(e)), ST_X(ST_EndPoint(e)), ST_Y(ST_EndPoint(e)),
                       (SELECT min(ST_Distance(red_line, ST_LineInterpolatePoint(e, 0.5))) FROM road) AS to_road
                FROM edges WHERE ST_Length(e) > 40
                ORDER BY to_road DESC LIMIT 1
                """
            )
        ).one()
        parcel_code, edge, to_road = edge[0], edge[1:5], edge[5]
        wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM parcel WHERE code = :p"), {"p": parcel_code}).scalar()
        parcel = shapely.from_wkb(bytes(wkb))
        conn.execute(
            text(
                """INSERT INTO project (code, name, type, stage, parcel_code, hazardous_works, progress_pct)
                   VALUES ('RV-TEST-CORNER', 'Corner test building', 'building', 'approval', :p, false, 0)
                   ON CONFLICT (code) DO NOTHING"""
            ),
            {"p": parcel_code},
        )
    assert to_road > review_site.setback_m + 2 * WIDTH, "the sample city has no parcel edge away from the roads"
    a, b = np.array(edge[:2]), np.array(edge[2:])
    mid = (a + b) / 2
    along = (b - a) / np.linalg.norm(b - a)
    normal = np.array([-along[1], along[0]])
    if parcel.contains(shapely.Point(*(mid + normal))):
        normal = -normal  # make it point outwards
    corner = mid + 1.0 * normal
    inward = -normal
    # local x and y both point into the parcel, 45° either side of the inward normal
    rotation = math.degrees(math.atan2(inward[1], inward[0])) - 45.0
    placement = _place(review_site, corner[0], corner[1], rotation)
    model = author_review_model(tmp_path / "corner.ifc", storeys=2, **placement)
    meshes = store_meshes(model["path"], corner[0], corner[1], placement["height"], rotation)
    over = {g: float(shapely.distance(shapely.points(m["verts"][:, :2]), parcel).max()) for g, m in meshes.items()}
    expected = {g: d for g, d in over.items() if d > 0.01}
    document = run_review(model["path"], "RV-TEST-CORNER")
    assert {i["rule"] for i in document["issues"]} == {rules.INSIDE_PARCEL}
    found = {i["global_id"]: i["measured"] for i in document["issues"]}
    assert set(found) == set(expected)
    for global_id, measured in found.items():
        assert measured == pytest.approx(expected[global_id], abs=0.01)
    assert max(found.values()) == pytest.approx(1.0, abs=0.01)
    check = next(c for c in document["report"]["planning"]["checks"] if c["rule"] == rules.INSIDE_PARCEL)
    assert check["measured"] == pytest.approx(1.0, abs=0.01) and check["passed"] is False


def _axis_distance(conn, mesh: dict, pipe_id: str) -> float:
    """3D distance from the pipe's axis to the element's authored triangles (raw PostGIS SQL on a TIN
    made here from the IFC geometry, not on the review's stored rows)."""
    triangles = mesh["verts"][mesh["faces"]]
    wkt = (
        "TIN Z ("
        + ",".join("((" + ",".join(f"{x:.4f} {y:.4f} {z:.4f}" for x, y, z in (*t, t[0])) + "))" for t in triangles)
        + ")"
    )
    return conn.execute(
        text("SELECT ST_3DDistance(ST_GeomFromText(:tin, 4549), geom) FROM pipeline WHERE id = :id"),
        {"tin": wkt, "id": pipe_id},
    ).scalar_one()


def test_basement_through_a_gas_main(review_site, tmp_path, database):
    with database.connect() as conn:
        pipe = conn.execute(
            text(
                """
                SELECT id, diameter_mm, ST_AsBinary(ST_LineSubstring(geom, 0.5 - 20 / ST_Length(geom),
                       0.5 + 20 / ST_Length(geom))) AS part
                FROM pipeline WHERE utility = 'gas' AND ST_Length(geom) > 60 AND diameter_mm >= 100
                ORDER BY id LIMIT 1
                """
            )
        ).one()
    part = shapely.get_coordinates(shapely.from_wkb(bytes(pipe.part)), include_z=True)
    start, end = part[0], part[-1]
    direction = (end - start)[:2] / np.linalg.norm((end - start)[:2])
    centre = part[len(part) // 2] if len(part) > 2 else (start + end) / 2
    rotation = math.degrees(math.atan2(direction[1], direction[0]))
    # the pipe runs along the building's local x through y = DEPTH / 2
    origin = centre[:2] - WIDTH / 2 * direction - DEPTH / 2 * np.array([-direction[1], direction[0]])
    placement = _place(review_site, origin[0], origin[1], rotation)
    floor_z = centre[2] - placement["height"] - 2.5  # the main crosses 2.5 m over the basement floor
    basement = {"x0": 0.0, "y0": 0.0, "width": WIDTH, "depth": DEPTH, "floor_z": floor_z, "height": 3.8}
    model = author_review_model(tmp_path / "basement.ifc", basement=basement, storeys=2, **placement)
    meshes = store_meshes(model["path"], origin[0], origin[1], placement["height"], rotation)
    radius = pipe.diameter_mm / 2000
    clearance = rules.PIPE_CLEARANCE_M["gas"]
    with database.connect() as conn:
        distances = {g: max(_axis_distance(conn, m, pipe.id) - radius, 0.0) for g, m in meshes.items()}
    expected = {g: d for g, d in distances.items() if d < clearance}
    assert model["basement"]["wall_west"] in expected and model["basement"]["wall_east"] in expected
    document = run_review(model["path"], review_site.project)
    # gas mains run under roads, so planning issues (red line, parcel) may come too; the clashes
    # with this main are exactly the elements within its clearance
    found = {
        i["global_id"]: i for i in _issues(document, rules.CLASH_PIPELINE) if i["details"]["pipeline_id"] == pipe.id
    }
    assert set(found) == set(expected)
    for global_id, issue in found.items():
        assert issue["measured"] == pytest.approx(expected[global_id], abs=0.03)
        assert issue["limit"] == clearance
    for wall in ("wall_west", "wall_east"):
        assert found[model["basement"][wall]]["details"]["crossing"] is True


def test_column_pushed_into_a_wall_is_one_internal_clash(review_site, tmp_path):
    """Columns that only touch the walls (every storey of the clean model) are no clash; the one
    pushed 0.15 m into its wall is one."""
    import ifcopenshell
    import ifcopenshell.util.placement

    placement = _place(review_site, *review_site.spot)
    model = author_review_model(tmp_path / "column.ifc", storeys=3, storey_height=3.0, **placement)
    ifc = ifcopenshell.open(str(model["path"]))
    column = next(c for c in ifc.by_type("IfcColumn") if c.Name == "F2 column 1")
    location = column.ObjectPlacement.RelativePlacement.Location
    x, y, z = location.Coordinates
    location.Coordinates = (x - 150.0, y, z)  # millimetres: 0.15 m into the west wall
    ifc.write(str(model["path"]))
    document = run_review(model["path"], review_site.project)
    clashes = _issues(document, rules.CLASH_INTERNAL)
    assert len(clashes) == 1
    pair = {clashes[0]["global_id"]: clashes[0]["ifc_class"]}
    pair[clashes[0]["details"]["other_global_id"]] = clashes[0]["details"]["other_ifc_class"]
    assert pair.pop(column.GlobalId) == "IfcColumn"
    assert list(pair.values()) == ["IfcWall"] and ifc.by_guid(next(iter(pair))).Name.startswith("F2 wall")
    # ifcclash's measure of the protrusion (not the 0.15 m penetration itself): over the tolerance
    assert clashes[0]["measured"] > rules.CLASH_TOLERANCE_M
    assert {i["rule"] for i in document["issues"]} == {rules.CLASH_INTERNAL}

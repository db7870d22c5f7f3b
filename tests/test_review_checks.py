"""The review on models with known defects finds exactly those defects, with the right elements
and values; a clean model passes. Expected values come from the authored geometry (IfcOpenShell
+ the placement), shapely and trimesh, not from the review's own code."""

from __future__ import annotations

import math

import ifcopenshell
import numpy as np
import pytest
import shapely
from sqlalchemy import text

from bim_ingest.review import rules
from bim_ingest.review.service import run_review
from sample_models.review_models import author_review_model, author_underground_structure
from tests.fixtures_review import (
    found_issues,
    ground_at,
    ground_under,
    hull,
    insert_parcel,
    insert_project,
    nearest_red_line,
    parcel_row,
    pipe_clearances,
    red_lines,
    site_issues,
    store_meshes,
)

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
    # in Chinese first, then ifctester's English
    assert document["issues"][0]["message"].startswith("须填写属性集 Pset_WallCommon 中的 FireRating / ")


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
    on_main = {g for g, d in distances.items() if d < clearance}
    assert model["basement"]["wall_west"] in on_main and model["basement"]["wall_east"] in on_main
    # gas mains run under the roads: the building gets a parcel of its own there (a building off
    # its project's parcel gets one placement error and no other planning or city checks)
    outline = shapely.union_all([hull(m) for m in meshes.values()]).convex_hull.buffer(3.0, join_style="mitre")
    with database.begin() as conn:
        insert_parcel(
            conn,
            "RV-GAS",
            outline,
            land_use="residential",
            height_limit_m=None,
            max_plot_ratio=None,
            max_density=None,
            min_setback_m=review_site.setback_m,
        )
        insert_project(conn, "RV-TEST-GAS", "RV-GAS", "Basement over a gas main")
    document = run_review(model["path"], "RV-TEST-GAS")
    # Every issue the model has, each computed here: besides the pipes within their clearance (this
    # main and its neighbours) the building stands inside the road's setback.
    with database.connect() as conn:
        expected = site_issues(conn, meshes, outline, review_site.setback_m)
        pipes = pipe_clearances(conn, meshes)
    assert {(g, p) for rule, g, p in expected if rule == rules.CLASH_PIPELINE} >= {
        (model["basement"]["wall_west"], pipe.id),
        (model["basement"]["wall_east"], pipe.id),
    }
    found = found_issues(document)
    assert set(found) == set(expected)
    for key, issue in found.items():
        assert issue["measured"] == pytest.approx(expected[key], abs=0.03), key
        if key[0] == rules.CLASH_PIPELINE:
            measured = pipes[key[1:]]
            assert issue["limit"] == rules.PIPE_CLEARANCE_M[measured["utility"]]
            assert issue["details"]["crossing"] is measured["crossing"]
    this_main = {g: i for (rule, g, pipe_id), i in found.items() if pipe_id == pipe.id}
    assert set(this_main) == on_main
    for wall in ("wall_west", "wall_east"):
        assert this_main[model["basement"][wall]]["details"]["crossing"] is True
        assert this_main[model["basement"][wall]]["limit"] == clearance


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


def _storey_floor_area(meshes: dict[str, dict], ground: float) -> tuple[float, float]:
    """Gross floor area (the plan outline of each storey above ground, roofs aside) and the
    building's base area (the plan outline of what stands above ground), from shapely."""
    storeys: dict[str, list[dict]] = {}
    for mesh in meshes.values():
        if mesh["storey"] and mesh["predefined_type"] != "ROOF":
            storeys.setdefault(mesh["storey"], []).append(mesh)
    floor_area = sum(
        shapely.union_all([hull(m) for m in members]).area
        for members in storeys.values()
        if max(m["verts"][:, 2].max() for m in members) > ground + 1.0
    )
    base = shapely.union_all([hull(m) for m in meshes.values() if m["verts"][:, 2].max() > ground + 0.01]).area
    return floor_area, base


def test_building_within_the_setback_from_a_red_line(review_site, tmp_path, database):
    """A building 2 m inside the setback of the road its parcel fronts: every element above
    ground within the setback is an issue, measured from the nearest red line."""
    with database.begin() as conn:
        # a long parcel edge on a road's red line (both ends on it), away from the tunnel
        row = conn.execute(
            text(
                """
                WITH edges AS (
                    SELECT code, setback, ST_MakeLine(ST_PointN(ring, i), ST_PointN(ring, i + 1)) AS e
                    FROM (SELECT code, coalesce(min_setback_m, 5) AS setback, ST_ExteriorRing(geom) AS ring
                          FROM parcel WHERE code LIKE 'CZDK%' AND height_limit_m >= 15
                            AND max_plot_ratio IS NOT NULL AND max_density IS NOT NULL) r,
                         generate_series(1, ST_NPoints(ring) - 1) AS i
                )
                SELECT edges.code, setback, r.code AS road, ST_X(ST_StartPoint(e)) AS ax, ST_Y(ST_StartPoint(e)) AS ay,
                       ST_X(ST_EndPoint(e)) AS bx, ST_Y(ST_EndPoint(e)) AS by
                FROM edges JOIN road r ON ST_DWithin(r.red_line, ST_StartPoint(e), 0.01)
                                      AND ST_DWithin(r.red_line, ST_EndPoint(e), 0.01)
                WHERE ST_Length(e) > 60
                  AND NOT EXISTS (SELECT 1 FROM utility_tunnel t WHERE ST_DWithin(t.axis, e, 60))
                ORDER BY edges.code, ST_Length(e) DESC LIMIT 1
                """
            )
        ).one()
        insert_project(conn, "RV-TEST-SETBACK", row.code, "Setback test building")
        parcel = parcel_row(conn, row.code)
        roads = red_lines(conn)
    setback = parcel["min_setback_m"]
    assert setback == row.setback and setback >= 4
    a, b = np.array([row.ax, row.ay]), np.array([row.bx, row.by])
    along = (b - a) / np.linalg.norm(b - a)
    inward = np.array([-along[1], along[0]])  # the building's local y
    if not parcel["geom"].contains(shapely.Point(*((a + b) / 2 + inward))):
        along, inward = -along, -inward
    gap = setback - 2.0
    origin = (a + b) / 2 - WIDTH / 2 * along + gap * inward
    rotation = math.degrees(math.atan2(along[1], along[0]))
    placement = _place(review_site, origin[0], origin[1], rotation)
    model = author_review_model(tmp_path / "setback.ifc", storeys=2, **placement)
    meshes = store_meshes(model["path"], origin[0], origin[1], placement["height"], rotation)
    with database.connect() as conn:
        expected = site_issues(conn, meshes, parcel["geom"], setback)
    assert {rule for rule, _, _ in expected} == {rules.SETBACK}
    walls = {meshes[g]["name"]: d for (_, g, _), d in expected.items() if meshes[g]["ifc_class"] == "IfcWall"}
    assert walls["F1 wall 1"] == pytest.approx(gap, abs=0.005)  # placed so: the outer face at setback - 2 m
    document = run_review(model["path"], "RV-TEST-SETBACK")
    found = found_issues(document)
    assert set(found) == set(expected)
    for key, issue in found.items():
        distance, road = nearest_red_line(meshes[key[1]], roads)
        assert issue["measured"] == pytest.approx(distance, abs=0.01)
        assert issue["limit"] == setback and issue["details"]["road"] == road
    # the outer faces toward the road are in the setback, the back wall is not
    names = {meshes[g]["name"] for _, g, _ in found}
    assert {"F1 floor", "F1 wall 1", "F2 wall 1", "Roof"} <= names and "F1 wall 3" not in names
    check = next(c for c in document["report"]["planning"]["checks"] if c["rule"] == rules.SETBACK)
    assert check["measured"] == pytest.approx(min(expected.values()), abs=0.01) and check["limit"] == setback
    assert check["passed"] is False and row.road in check["roads"]
    assert check["elements"] == sorted(g for _, g, _ in found)


def _small_parcel_project(database, code: str, margin: tuple[float, float], site, **limits) -> dict:
    """A project on a parcel of its own: the free spot's building with ``margin`` (m) around it."""
    x, y = site.spot
    polygon = shapely.box(x - margin[0], y - margin[1], x + WIDTH + margin[0], y + DEPTH + margin[1])
    with database.begin() as conn:
        insert_parcel(conn, f"RV-{code}", polygon, land_use="residential", **limits)
        insert_project(conn, f"RV-TEST-{code}", f"RV-{code}", f"{code.lower()} test building")
        return parcel_row(conn, f"RV-{code}")


def _building_level(document, model_path, rule, expected_ratio, limit):
    building = ifcopenshell.open(str(model_path)).by_type("IfcBuilding")[0].GlobalId
    assert [(i["rule"], i["global_id"], i["ifc_class"]) for i in document["issues"]] == [
        (rule, building, "IfcBuilding")
    ]
    issue = document["issues"][0]
    assert issue["measured"] == pytest.approx(expected_ratio, rel=1e-4) and issue["limit"] == limit
    checks = {c["rule"]: c for c in document["report"]["planning"]["checks"]}
    assert checks[rule]["passed"] is False and checks[rule]["elements"] == [building]
    assert checks[rule]["measured"] == pytest.approx(expected_ratio, rel=1e-4) and checks[rule]["limit"] == limit
    assert all(c["passed"] for r, c in checks.items() if r != rule)
    return checks


def _reviewed_on_small_parcel(database, review_site, tmp_path, code: str, margin, storeys: int, **limits) -> tuple:
    """A building of ``storeys`` storeys on a parcel of its own with ``limits``, its store meshes checked
    clear of the site rules (setback and the rest), reviewed: (parcel, model path, floor area and base measured
    here, review document)."""
    parcel = _small_parcel_project(database, code, margin, review_site, **limits)
    placement = _place(review_site, *review_site.spot)
    model = author_review_model(tmp_path / f"{code.lower()}.ifc", storeys=storeys, storey_height=3.0, **placement)
    meshes = store_meshes(model["path"], *review_site.spot, placement["height"], 0.0)
    with database.connect() as conn:
        assert site_issues(conn, meshes, parcel["geom"], parcel["min_setback_m"]) == {}
    floor_area, base = _storey_floor_area(meshes, ground_under(meshes))
    document = run_review(model["path"], f"RV-TEST-{code}")
    return parcel, model["path"], floor_area, base, document


def test_plot_ratio_over_the_parcel_limit(review_site, tmp_path, database):
    """Three storeys of 96 m² on a 480 m² parcel that allows 0.5: plot ratio 0.6, density 0.2 within."""
    limits = {"height_limit_m": 24.0, "max_plot_ratio": 0.5, "max_density": 0.4, "min_setback_m": 5.0}
    parcel, path, floor_area, base, document = _reviewed_on_small_parcel(
        database, review_site, tmp_path, "PLOT-RATIO", (6.0, 6.0), 3, **limits
    )
    assert floor_area == pytest.approx(3 * WIDTH * DEPTH, rel=1e-4)
    area = parcel["geom"].area
    assert floor_area / area > parcel["max_plot_ratio"] and base / area <= parcel["max_density"]
    checks = _building_level(document, path, rules.PLOT_RATIO, floor_area / area, parcel["max_plot_ratio"])
    assert checks[rules.DENSITY]["measured"] == pytest.approx(base / area, rel=1e-4)
    assert document["report"]["planning"]["site"]["floor_area_m2"] == pytest.approx(floor_area, abs=0.01)


def test_building_density_over_the_parcel_limit(review_site, tmp_path, database):
    """A 96 m² footprint on a 224 m² parcel that allows 0.35: density 0.43, plot ratio 0.86 within."""
    limits = {"height_limit_m": 24.0, "max_plot_ratio": 1.2, "max_density": 0.35, "min_setback_m": 5.0}
    parcel, path, floor_area, base, document = _reviewed_on_small_parcel(
        database, review_site, tmp_path, "DENSITY", (2.0, 3.0), 2, **limits
    )
    assert base == pytest.approx(WIDTH * DEPTH, rel=1e-4)
    area = parcel["geom"].area
    assert base / area > parcel["max_density"] and floor_area / area <= parcel["max_plot_ratio"]
    checks = _building_level(document, path, rules.DENSITY, base / area, parcel["max_density"])
    assert checks[rules.PLOT_RATIO]["measured"] == pytest.approx(floor_area / area, rel=1e-4)


def test_underground_structure_within_the_utility_tunnel_clearance(review_site, tmp_path, database):
    """An underground pump room under the road, 0.6 m beside the utility tunnel's outer wall and
    below the pipes over it: exactly its elements within the 1.0 m clearance are issues."""
    gap = 0.6
    with database.begin() as conn:
        # a station on the tunnel's axis away from the pipes that cross the road
        tunnel = conn.execute(
            text(
                """
                WITH t AS (SELECT id, axis, width_m, height_m,
                                  ST_Azimuth(ST_StartPoint(axis), ST_EndPoint(axis)) AS az
                           FROM utility_tunnel ORDER BY id LIMIT 1),
                crossing AS (SELECT l.geom FROM pipeline l, t WHERE ST_DWithin(l.geom, t.axis, 30)
                             AND abs(sin(ST_Azimuth(ST_StartPoint(l.geom), ST_EndPoint(l.geom)) - t.az)) > 0.3)
                SELECT t.id, t.width_m, t.height_m, ST_AsBinary(t.axis) AS axis, f,
                       (SELECT min(ST_Distance(c.geom, ST_LineInterpolatePoint(t.axis, f))) FROM crossing c) AS free
                FROM t, generate_series(0.1, 0.9, 0.01) AS f ORDER BY free DESC, f LIMIT 1
                """
            )
        ).one()
    axis = shapely.from_wkb(bytes(tunnel.axis))
    coords = shapely.get_coordinates(axis, include_z=True)
    chord = shapely.LineString(coords[[0, -1], :2])
    assert max(chord.distance(shapely.Point(p)) for p in coords[:, :2]) < 0.01, "the tunnel's axis is straight"
    along = (coords[-1, :2] - coords[0, :2]) / np.linalg.norm(coords[-1, :2] - coords[0, :2])
    across = np.array([-along[1], along[0]])  # the structure's local y, away from the axis
    station = np.array(axis.interpolate(tunnel.f, normalized=True).coords[0])
    assert tunnel.free > 20, "no stretch of the tunnel away from the crossing pipes"
    half = tunnel.width_m / 2
    origin = station[:2] - WIDTH / 2 * along + (half + gap) * across
    rotation = math.degrees(math.atan2(along[1], along[0]))
    height = ground_at(*origin)
    floor = station[2]  # the axis runs along the tunnel's floor
    # walls from 2.5 m under the tunnel floor to 0.5 m over it, a 0.3 m cover slab on top
    basement = {"x0": 0.0, "y0": 0.0, "width": WIDTH, "depth": DEPTH, "floor_z": floor - 2.5 - height, "height": 3.0}
    model = author_underground_structure(
        tmp_path / "pumproom.ifc",
        basement=basement,
        eastings=origin[0],
        northings=origin[1],
        height=height,
        rotation_deg=rotation,
        width=WIDTH,
        depth=DEPTH,
        name="Pump room",
    )
    meshes = store_meshes(model["path"], origin[0], origin[1], height, rotation)
    assert set(meshes) == set(model["basement"].values())
    # its underground-space parcel under the road: from the tunnel's outer wall to 16 m off the axis
    frame = np.column_stack([along, across])
    corners = [(-WIDTH / 2 - 10, half), (WIDTH / 2 + 10, half), (WIDTH / 2 + 10, 16.0), (-WIDTH / 2 - 10, 16.0)]
    polygon = shapely.Polygon([station[:2] + frame @ np.array(c) for c in corners])
    with database.begin() as conn:
        insert_parcel(
            conn,
            "RV-UG-TUNNEL",
            polygon,
            land_use="public",
            height_limit_m=0.0,
            max_plot_ratio=0.5,
            max_density=0.6,
            min_setback_m=0.0,
        )
        insert_project(conn, "RV-TEST-TUNNEL", "RV-UG-TUNNEL", "Pump room beside the utility tunnel", "municipal")
        parcel = parcel_row(conn, "RV-UG-TUNNEL")
        assert site_issues(conn, meshes, parcel["geom"], parcel["min_setback_m"]) == {}, "pipes or parcel in the way"
    # clearance to the tunnel's box: across the axis beyond its half width, and above or below it
    expected = {}
    for global_id, mesh in meshes.items():
        verts = mesh["verts"]
        offsets = (verts[:, :2] - station[:2]) @ across
        assert offsets.min() > 0  # every element lies on one side of the axis
        centre = shapely.Point(verts[:, :2].mean(axis=0))
        floor_here = axis.interpolate(axis.project(centre)).z
        gap_h = max(offsets.min() - half, 0.0)
        gap_v = max(floor_here - verts[:, 2].max(), verts[:, 2].min() - (floor_here + tunnel.height_m), 0.0)
        clearance = math.hypot(gap_h, gap_v)
        if clearance < rules.TUNNEL_CLEARANCE_M - 0.01:
            expected[global_id] = clearance
    basement_ids = model["basement"]
    assert set(expected) == {basement_ids[k] for k in ("wall_south", "wall_east", "wall_west", "cover")}
    document = run_review(model["path"], "RV-TEST-TUNNEL")
    found = found_issues(document)
    assert set(found) == {(rules.CLASH_TUNNEL, g, None) for g in expected}
    for (_, global_id, _), issue in found.items():
        assert issue["measured"] == pytest.approx(expected[global_id], abs=0.02)
        assert issue["measured"] == pytest.approx(gap, abs=0.02)
        assert issue["limit"] == rules.TUNNEL_CLEARANCE_M and issue["details"]["tunnel_id"] == tunnel.id
    city = {c["rule"]: c for c in document["report"]["clashes"]["city"]}
    assert city[rules.CLASH_TUNNEL]["clashes"] == len(expected) and city[rules.CLASH_PIPELINE]["clashes"] == 0


def test_clash_tree_fed_by_the_ingest_equals_ifcclash_on_its_own_triangulation(tmp_path):
    """The in-model clash sets the ingest's kernel answers as it triangulates (forked, its own
    kernel and settings) equal those of a BVH tree built the way ifcclash does, from IfcOpenShell's
    default iterator: the same pairs in both modes, with the same penetrations."""
    import ifcopenshell.geom
    import ifcopenshell.util.selector

    from bim_ingest import geometry
    from bim_ingest.review.clashes import clash_tree

    path = author_review_model(tmp_path / "columns.ifc", storeys=2, storey_height=3.0)["path"]
    model = ifcopenshell.open(str(path))
    for k, column in enumerate(model.by_type("IfcColumn")):  # pushed into their walls by 0-180 mm
        location = column.ObjectPlacement.RelativePlacement.Location
        x, y, z = location.Coordinates
        location.Coordinates = (x - 30.0 * (k % 7), y + 20.0 * (k % 3), z)
    model.write(str(path))
    model = ifcopenshell.open(str(path))

    with geometry.MeshStream(model, tree=clash_tree(model)) as stream:
        assert sum(1 for _ in stream.iter()) == len(geometry.body_products(model))
    fed = {(s["name"], s["mode"], k): round(c["distance"], 6) for s in stream.answer for k, c in s["clashes"].items()}

    groups = {}
    for name_a, select_a, name_b, select_b in rules.DISCIPLINE_PAIRS:
        groups[name_a] = list(ifcopenshell.util.selector.filter_elements(model, select_a))
        groups[name_b] = list(ifcopenshell.util.selector.filter_elements(model, select_b))
    tree = ifcopenshell.geom.tree(backend="opencascade.trianglebvh")
    every = [e for group in groups.values() for e in group]
    iterator = ifcopenshell.geom.iterator(ifcopenshell.geom.settings(), model, 1, include=every)
    assert iterator.initialize()
    while True:
        tree.add_element(iterator.get())
        if not iterator.next():
            break
    expected = {}
    for name_a, _, name_b, _ in rules.DISCIPLINE_PAIRS:
        a, b = groups[name_a], groups[name_b]
        if not (a and b):
            continue
        for mode, results in (
            ("intersection", tree.clash_intersection_many(a, b, tolerance=rules.CLASH_TOLERANCE_M, check_all=False)),
            ("collision", tree.clash_collision_many(a, b, allow_touching=False)),
        ):
            for r in results:
                expected[(f"{name_a}/{name_b}", mode, f"{r.a.GlobalId}-{r.b.GlobalId}")] = round(r.distance, 6)
    assert any(mode == "intersection" for _, mode, _ in expected)  # the pushed columns do clash
    assert fed == expected

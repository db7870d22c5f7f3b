"""Compare in the viewer (issue 17 item 7), in Debian's headless Chromium (driver tests/e2e/compare.mjs)
against `cim serve` on the sample city: a model published in two versions made by the test itself
(version B is version A's IFC edited with ifcopenshell: one hut removed, one added, one moved), then
the swipe (a screenshot split by the dragged line: A's huts on the left, B's on the right), the version
diff in 3D (the features' colours and the legend's counts), side by side (two views, one camera) and a
swipe of two thematic maps (each side's buildings coloured after its vocabulary, by SQL).
Where the huts are comes from the test's own placement (pyproj to lon/lat, the page's camera to
pixels); which GlobalIds changed from its own edit. Screenshots land in test-artifacts/compare-*.png."""

from __future__ import annotations

import colorsys

import ifcopenshell
import ifcopenshell.api
import numpy as np
import pytest
from pyproj import Transformer
from sqlalchemy import Engine, text

# The building spans (0, 0)-(20, 12) m in its local frame (x east, y north: no rotation); the huts
# are boxes of HUT x HUT x HUT_HEIGHT m around their centres, apart from it.
WIDTH, DEPTH = 20.0, 12.0
HUT, HUT_HEIGHT = 4.0, 3.0
HUTS_A = {"west": (-10.0, 6.0), "south": (4.0, -10.0)}  # version A
HUTS_B = {"east": (30.0, 6.0), "south": (16.0, -10.0)}  # version B: west removed, east added, south moved
CAMERA_ABOVE_M = 80.0  # the camera looks straight down from this high above the building's centre
# a thematic pair: buildings by housing-safety grade (A) and by their contractor's credit grade (B)
THEMES = ("buildings:safety_grade", "buildings:contractor_grade")
# a site's mean colour (0-255, differences summed over RGB) where a hut is and where it is not (the
# hut's top against the draped parcel: about 60 apart); the same site in two renderings of one scene
DIFFERENT = 30.0
SAME = 8.0

_SITE = text(
    """
    SELECT pr.code, ST_X(ST_Centroid(pa.geom)) AS x, ST_Y(ST_Centroid(pa.geom)) AS y
    FROM project pr JOIN parcel pa ON pa.code = pr.parcel_code
    WHERE pr.stage = 'preparation' AND NOT EXISTS (SELECT 1 FROM building b WHERE b.parcel_code = pa.code)
      AND ST_Area(pa.geom) > 2500
    ORDER BY pr.code DESC LIMIT 1
    """
)


def _hut(model: ifcopenshell.file, name: str, centre: tuple[float, float]) -> ifcopenshell.entity_instance:
    """A box on the ground storey around ``centre`` (local metres)."""
    [body] = [c for c in model.by_type("IfcGeometricRepresentationSubContext") if c.ContextIdentifier == "Body"]
    storey = next(s for s in model.by_type("IfcBuildingStorey") if s.Name == "F1")
    hut = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuildingElementProxy", name=name)
    origin = model.create_entity("IfcAxis2Placement2D", Location=model.create_entity("IfcCartesianPoint", (0.0, 0.0)))
    profile = model.create_entity(  # millimetres, the project's unit
        "IfcRectangleProfileDef", ProfileType="AREA", Position=origin, XDim=HUT * 1000, YDim=HUT * 1000
    )
    rep = ifcopenshell.api.run(
        "geometry.add_profile_representation", model, context=body, profile=profile, depth=HUT_HEIGHT
    )
    ifcopenshell.api.run("geometry.assign_representation", model, product=hut, representation=rep)
    _place(model, hut, centre)
    ifcopenshell.api.run("spatial.assign_container", model, products=[hut], relating_structure=storey)
    return hut


def _place(model: ifcopenshell.file, product: ifcopenshell.entity_instance, centre: tuple[float, float]) -> None:
    matrix = np.eye(4)
    matrix[:2, 3] = centre
    ifcopenshell.api.run("geometry.edit_object_placement", model, product=product, matrix=matrix, is_si=True)


@pytest.fixture(scope="module")
def two_versions(sample_city: dict, database: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A building with huts published as version 1, then edited (west hut removed, east hut added,
    south hut moved) and published as version 2: the model, its versions, the GlobalIds of each
    change, and each hut's centre in lon/lat."""
    from gis.dem import ground_heights
    from sample_models.ifc_models import author_building
    from spatial_api.pipelines import ingest_and_publish

    with database.connect() as conn:
        project, x, y = conn.execute(_SITE).one()
    east, north = x - WIDTH / 2, y - DEPTH / 2  # the local origin: the centre on the parcel's
    ground = float(ground_heights(np.array([[x, y]]))[0])
    folder = tmp_path_factory.mktemp("compare")
    path_a = author_building(
        folder / "a.ifc", eastings=east, northings=north, height=ground, rotation_deg=0.0, storeys=2,
        width=WIDTH, depth=DEPTH, name="对比测试楼",
    )  # fmt: skip
    model = ifcopenshell.open(str(path_a))
    huts = {name: _hut(model, f"hut {name}", centre) for name, centre in HUTS_A.items()}
    model.write(str(path_a))
    ids = {name: hut.GlobalId for name, hut in huts.items()}
    name = f"{project} compare model"
    first = ingest_and_publish(path_a, project, model_name=name)
    # version B: the same file edited
    ifcopenshell.api.run("root.remove_product", model, product=huts["west"])
    _place(model, huts["south"], HUTS_B["south"])
    ids["east"] = _hut(model, "hut east", HUTS_B["east"]).GlobalId
    path_b = folder / "b.ifc"
    model.write(str(path_b))
    second = ingest_and_publish(path_b, project, model_name=name)
    assert first["tileset"] and second["tileset"], (first["georef"]["warnings"], second["georef"]["warnings"])
    assert first["model_id"] == second["model_id"] and second["version_no"] == first["version_no"] + 1
    to_lonlat = Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True).transform
    where = {
        f"{name}_{version}": to_lonlat(east + cx, north + cy)
        for version, huts_of in (("a", HUTS_A), ("b", HUTS_B))
        for name, (cx, cy) in huts_of.items()
    }
    return {
        "model_id": first["model_id"],
        "versions": (first["version_no"], second["version_no"]),
        "version_ids": (first["version_id"], second["version_id"]),
        "removed": [ids["west"]],
        "added": [ids["east"]],
        "changed": [ids["south"]],
        "huts": where,
        "centre": to_lonlat(x, y),
    }


@pytest.fixture(scope="module")
def compared(run_e2e, city_server, two_versions) -> dict:
    """One browser session: swipe, the version diff, side by side."""
    spec = {
        "model_id": two_versions["model_id"],
        "versions": two_versions["versions"],
        "version_ids": two_versions["version_ids"],
        "camera": [*two_versions["centre"], CAMERA_ABOVE_M],
        # the huts' top faces: what the camera straight above sees of them
        "points": {key: [lon, lat, HUT_HEIGHT] for key, (lon, lat) in two_versions["huts"].items()},
        "themes": list(THEMES),
    }
    report = run_e2e(city_server, ["swipe", "diff", "side", "themes"], script="compare.mjs", timeout_s=300, **spec)
    # without the city's BIM layer built (other tests build it) its tileset is a 404, as on any city
    bad = [r for r in report["bad_responses"] if "/tiles/bim_elements/" not in r]
    excused = len(bad) < len(report["bad_responses"])
    errors = [e for e in report["console_errors"] if not (excused and "404" in e)]
    assert report["outside"] == [] and bad == [] and errors == [], report
    return report


def step(report: dict, name: str) -> dict:
    answer = report["steps"][name]
    assert "error" not in answer, f"step {name} failed: {answer}"
    return answer


def distance(one: list[float], other: list[float]) -> float:
    return sum(abs(a - b) for a, b in zip(one, other, strict=True))


def test_the_swipe_shows_version_a_left_of_the_dragged_line_and_b_right_of_it(compared):
    swipe = step(compared, "swipe")
    at, globe = swipe["points"], swipe["globe"]
    # the line follows the mouse: dragged to a page x, the split is there (a share of the view's
    # width), and dragged past either edge it stops at the edge
    assert swipe["split"] == pytest.approx((swipe["target"] - globe["x"]) / globe["width"], abs=0.005)
    assert swipe["edges"] == [0, 1]
    # the line is between the south hut's old and new place: the west hut and the south hut's old
    # place are left of it, the east hut and the south hut's new place right of it
    line = globe["x"] + swipe["split"] * globe["width"]
    assert at["west_a"][0] < line and at["south_a"][0] < line
    assert at["east_b"][0] > line and at["south_b"][0] > line
    split, only_a, only_b = swipe["colours"]["split"], swipe["colours"]["all_a"], swipe["colours"]["all_b"]
    # where the versions differ, each side of the split shows its own version
    for site in ("west_a", "south_a"):  # left: version A (the hut is there in A and not in B)
        assert distance(only_a[site], only_b[site]) > DIFFERENT, (site, only_a[site], only_b[site])
        assert distance(split[site], only_a[site]) < SAME, (site, split[site], only_a[site])
    for site in ("east_b", "south_b"):  # right: version B
        assert distance(only_a[site], only_b[site]) > DIFFERENT, (site, only_a[site], only_b[site])
        assert distance(split[site], only_b[site]) < SAME, (site, split[site], only_b[site])


def hue(rgb: list[float]) -> float | None:
    """The hue in degrees of an RGB colour (0-1 or 0-255 channels); None for a greyish one (a lit,
    shaded face keeps its hue but loses saturation: a green face was seen at 0.40)."""
    scale = 255.0 if max(rgb[:3]) > 1 else 1.0
    h, s, _ = colorsys.rgb_to_hsv(*(c / scale for c in rgb[:3]))
    return h * 360 if s >= 0.25 else None


def is_green(rgb: list[float]) -> bool:
    return (h := hue(rgb)) is not None and 90 <= h <= 150


def is_amber(rgb: list[float]) -> bool:
    return (h := hue(rgb)) is not None and 30 <= h <= 55


def is_red(rgb: list[float]) -> bool:
    return (h := hue(rgb)) is not None and (h <= 12 or h >= 348)


def test_the_version_diff_colours_added_changed_and_removed_elements(compared, two_versions, database):
    diff = step(compared, "diff")
    older, newer = diff["features"]["a"]["features"], diff["features"]["b"]["features"]
    assert [diff["features"][s]["layer"] for s in "ab"] == [f"bim-{v}" for v in two_versions["version_ids"]]
    with database.connect() as conn:
        in_b = set(conn.scalars(text("SELECT global_id FROM bim_element WHERE version_id = :v"),
                                {"v": two_versions["version_ids"][1]}))  # fmt: skip
    # every element of the newer version is drawn; added green, changed amber, the rest neither
    assert set(newer) == in_b
    (added,), (changed,) = two_versions["added"], two_versions["changed"]
    assert is_green(newer[added]["color"]) and newer[added]["show"]
    assert is_amber(newer[changed]["color"]) and newer[changed]["show"]
    others = [f for gid, f in newer.items() if gid not in (added, changed)]
    assert others and not any(is_green(f["color"]) or is_amber(f["color"]) or is_red(f["color"]) for f in others)
    # of the older version only the removed element shows, red
    (removed,) = two_versions["removed"]
    assert [gid for gid, f in older.items() if f["show"]] == [removed]
    assert is_red(older[removed]["color"])
    # the legend counts what the test changed, in Chinese
    assert diff["legend"] == {"added": ["新增", "1"], "changed": ["修改", "1"], "removed": ["删除", "1"]}
    # and on the screen: the removed hut red, the added green, the moved one amber at its new place
    colours = diff["colours"]
    assert is_red(colours["west_a"]) and is_green(colours["east_b"]) and is_amber(colours["south_b"]), colours


def test_side_by_side_shows_the_two_versions_with_one_camera(compared):
    side = step(compared, "side")
    # the second view follows the first, and the first follows a drag in the second
    assert side["apart_m"] < 0.01
    assert side["moved_m"] > 1.0 and side["apart_after_drag_m"] < 0.01
    left, right = side["colours"]["left"], side["colours"]["right"]
    # the left view (A) has the west hut, the right one (B) the east hut: the same top face in each
    assert distance(left["west_a"], right["east_b"]) < SAME, (left, right)
    assert distance(left["west_a"], right["west_a"]) > DIFFERENT, (left, right)
    assert distance(left["east_b"], right["east_b"]) > DIFFERENT, (left, right)


def test_a_thematic_pair_swipes_buildings_by_safety_grade_against_contractor_grade(compared, database):
    from core import vocab

    themes = step(compared, "themes")
    with database.connect() as conn:
        safety = dict(conn.execute(text("SELECT code, safety_grade FROM building")).all())
        contractor = dict(
            conn.execute(
                text(
                    "SELECT b.code, e.credit_grade FROM building b JOIN project p ON p.code = b.project_code"
                    " JOIN enterprise e ON e.uscc = p.contractor_uscc"
                )
            ).all()
        )
    left, right = themes["a"], themes["b"]
    assert (left["layer"], right["layer"]) == ("buildings", "buildings")
    assert (left["split"], right["split"]) == (-1, 1)  # Cesium.SplitDirection.LEFT, RIGHT

    def rgb(css: str) -> list[float]:
        return [int(css[i : i + 2], 16) / 255 for i in (1, 3, 5)]

    for side, values, words in ((left, safety, "grades_safety"), (right, contractor, "grades_credit")):
        colours = {code: feature["color"][:3] for code, feature in side["features"].items()}
        graded = {code: value for code, value in values.items() if value is not None and code in colours}
        assert len(graded) >= 20, (words, len(graded))
        for code, value in graded.items():
            term = vocab.get(words).term(value)
            assert term is not None and term.color is not None, (words, value)
            expected = rgb(term.color)
            assert colours[code] == pytest.approx(expected, abs=1.5 / 255), (words, code, value)
    # the two maps differ: some building has another colour on either side
    assert any(f["color"] != right["features"].get(c, {}).get("color") for c, f in left["features"].items())

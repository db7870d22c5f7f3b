"""The viewer as a place to work (issue 17), in Debian's headless Chromium (playwright-core, driver
tests/e2e/work.mjs) against `cim serve` on the sample city, with every request to a host other than
127.0.0.1 aborted: the API docs, navigation and share links, coordinates in the search box,
measuring (section cutting, excavation and depth: tests/test_viewer_cut.py), results that stay,
record cards. Expected answers come from the database by SQL, from pyproj and from the
OpenAPI document, not from the viewer's code.
Screenshots land in test-artifacts/work-*.png."""

from __future__ import annotations

import json
import math
import re
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from pyproj import Geod, Transformer
from sqlalchemy import text

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def step(report: dict, name: str) -> dict:
    answer = report["steps"][name]
    assert "error" not in answer, f"step {name} failed: {answer}"
    return answer


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def docs(run_e2e, city_server) -> dict:
    return run_e2e(city_server, ["docs", "redoc"], script="work.mjs", timeout_s=600)


def test_docs_and_redoc_render_offline_every_operation(docs, city_server):
    document = get_json(f"{city_server}openapi.json")
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }
    ids = {item[m]["operationId"] for item in document["paths"].values() for m in item if m in HTTP_METHODS}
    swagger = step(docs, "docs")
    assert document["info"]["title"] in swagger["title"]
    assert {tuple(op) for op in swagger["operations"]} == operations
    redoc = step(docs, "redoc")
    assert document["info"]["title"] in redoc["title"]
    assert set(redoc["sections"]) == ids
    # nothing reached another host (the driver aborts and lists such requests); ReDoc's sidebar
    # always asks cdn.redoc.ly for its logo, which the server's Content-Security-Policy refuses
    # before any request goes out; nothing else failed
    assert docs["outside"] == []
    assert [f for f in docs["failed"] if not f.endswith(" csp")] == [], docs["failed"]
    assert all("cdn.redoc.ly" in f for f in docs["failed"])
    assert [e for e in docs["console_errors"] if "cdn.redoc.ly" not in e] == []
    assert any("/vendor/swagger-ui/swagger-ui-bundle.js" in u for u in docs["requests"])
    assert any("/vendor/redoc/redoc.standalone.js" in u for u in docs["requests"])


@pytest.fixture(scope="module")
def tall_building(database, sample_city) -> str:
    with database.connect() as conn:
        return conn.execute(text("SELECT code FROM building ORDER BY height_m DESC, code LIMIT 1")).scalar_one()


@pytest.fixture(scope="module")
def navigated(run_e2e, city_server, tall_building, artifacts) -> dict:
    report = run_e2e(city_server, ["navigate", "share"], script="work.mjs", building=tall_building, timeout_s=900)
    nav = report["steps"]["navigate"]
    for name, shot in (("zoomed_in", "nav-wheel-in"), ("zoomed_out", "nav-wheel-out")):
        if name in nav:
            nav[name]["city"]["colours"] = colours(artifacts / f"work-{shot}.png")
    return report


def colours(path: Path) -> int:
    """How many distinct colours a screenshot has."""
    with Image.open(path) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 24))


def same_camera(a: list[float], b: list[float]) -> bool:
    """Two camera states (lon, lat, h, heading, pitch, roll) equal to a decimetre and a milliradian."""
    turns = zip(a[3:], b[3:], strict=True)
    close_angle = all(abs((x - y + math.pi) % (2 * math.pi) - math.pi) < 1e-3 for x, y in turns)
    return abs(a[0] - b[0]) < 2e-6 and abs(a[1] - b[1]) < 2e-6 and abs(a[2] - b[2]) < 0.5 and close_angle


def test_coordinates_scale_bar_and_buttons(navigated, database):
    nav = step(navigated, "navigate")
    # the grid coordinates under the mouse are the store CRS's (pyproj here, proj4js there)
    readout = nav["readout"]
    with database.connect() as conn:
        srid = conn.execute(text("SELECT Find_SRID('public', 'building', 'footprint')")).scalar_one()
    easting, northing = Transformer.from_crs(4326, srid, always_xy=True).transform(readout["lon"], readout["lat"])
    assert abs(easting - readout["easting"]) < 0.01 and abs(northing - readout["northing"]) < 0.01
    assert f"E {easting:.2f}" in nav["coordinates"] and f"N {northing:.2f}" in nav["coordinates"]
    assert f"{readout['lon']:.6f}°E" in nav["coordinates"]
    # the scale bar: a 1/2/5 × 10^n length, drawn as long as it measures on the ground
    scale = nav["scale"]
    mantissa = scale["metres"] / 10 ** math.floor(math.log10(scale["metres"]))
    assert round(mantissa, 6) in (1, 2, 5)
    assert scale["metres"] <= 100 * scale["per_pixel"] + 1e-6
    assert abs(scale["width"] - scale["metres"] / scale["per_pixel"]) < 1.5
    # home button and key: the first view again; zoom button: half way to the centre of the view
    assert same_camera(nav["home_again"]["state"], nav["home"]["state"])
    assert same_camera(nav["after_h"]["state"], nav["home"]["state"])
    assert nav["zoom_button"]["to_target"] == pytest.approx(nav["home_again"]["to_target"] * 0.5, rel=0.1)
    assert nav["after_plus"]["to_target"] == pytest.approx(nav["before_key"]["to_target"] * 0.5, rel=0.1)
    # the compass needle turns with the view and turns it back north
    assert re.search(r"rotate\(-57\.29\d*deg\)", nav["needle"]), nav["needle"]
    assert min(nav["heading_after_compass"], 2 * math.pi - nav["heading_after_compass"]) < 1e-3


def test_twenty_wheel_notches_in_and_out_still_show_the_city(navigated, city_server):
    nav = step(navigated, "navigate")
    ground_min = get_json(f"{city_server}api/v1/terrain/extent")["h_ellipsoidal_min"]
    low, high = nav["home"]["limits"]
    assert nav["loaded"]["selected"] > 0 and nav["loaded"]["commands"] > 0
    # close in: buildings drawn (tiles selected, draw commands issued in a frame drawn then)
    assert nav["zoomed_in"]["city"]["selected"] > 0 and nav["zoomed_in"]["city"]["commands"] > 0, nav["zoomed_in"]
    for name in ("zoomed_in", "zoomed_out"):
        view = nav[name]
        # the canvas is not one flat colour and the camera stays near the city (at the farthest
        # distance the buildings' tiles are below their screen-space error: the ground shows)
        assert view["city"]["colours"] > 50, (name, view)
        assert view["camera"]["to_city"] <= view["camera"]["city_radius"] * 8, (name, view)
    zoomed_in, zoomed_out = nav["zoomed_in"]["camera"], nav["zoomed_out"]["camera"]
    assert zoomed_in["to_target"] >= low * 0.9, zoomed_in
    assert zoomed_out["height"] <= high + nav["home"]["height"], zoomed_out
    assert zoomed_in["height"] > ground_min, zoomed_in


def test_bookmarks_are_kept_in_the_browser(navigated):
    nav = step(navigated, "navigate")
    assert nav["listed"] == ["南门"]
    assert same_camera(nav["restored"]["state"], nav["marked"]["state"])


def test_a_share_link_restores_camera_layers_selection_and_tool(navigated, tall_building):
    shared = step(navigated, "share")
    made, opened = shared["made"], shared["opened"]
    assert "#camera=" in shared["url"]
    assert same_camera(opened["camera"], made["camera"])
    assert "pipelines" in made["layers"] and "parcels" not in made["layers"]
    assert set(opened["layers"]) == set(made["layers"])
    assert shared["tileset_shown"]["pipelines"] is True
    assert made["selection"] == {"layer": "buildings", "id": tall_building} == opened["selection"]
    assert tall_building in shared["panel_title"] and tall_building in shared["highlighted"]
    assert made["tool"] == "profile" == opened["tool"]


@pytest.fixture(scope="module")
def places(database, sample_city) -> list[dict]:
    """Two building centroids: one typed as lon, lat, one as the city grid's easting, northing; each
    with its lon/lat by SQL (PostGIS's transformation, not the viewer's proj4js)."""
    with database.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT ST_X(c) AS e, ST_Y(c) AS n, ST_X(ST_Transform(c, 4326)) AS lon,
                          ST_Y(ST_Transform(c, 4326)) AS lat
                     FROM (SELECT ST_Centroid(footprint) AS c FROM building ORDER BY code LIMIT 2) s"""
            )
        ).all()
    first, second = rows
    return [
        {"q": f"{first.lon:.7f}, {first.lat:.7f}", "lon": first.lon, "lat": first.lat},
        {"q": f"{second.e:.2f} {second.n:.2f}", "lon": second.lon, "lat": second.lat},
    ]


def test_typed_coordinates_fly_there_and_pin_the_place(run_e2e, city_server, places):
    report = run_e2e(
        city_server, ["coordinates"], script="work.mjs", places=[{"q": p["q"]} for p in places], timeout_s=600
    )
    answers = step(report, "coordinates")
    for place, answer in zip(places, answers, strict=True):
        assert len(answer["suggestions"]) == 1 and answer["suggestions"][0].startswith("坐标"), answer
        lon, lat, height = answer["camera"]
        # straight above the place (a decimetre is 1e-6 degrees), from a few hundred metres
        assert abs(lon - place["lon"]) < 2e-6 and abs(lat - place["lat"]) < 2e-6, (place, answer)
        assert 100 < height < 1000
        assert abs(answer["pin"][0] - place["lon"]) < 2e-6 and abs(answer["pin"][1] - place["lat"]) < 2e-6
    assert report["outside"] == []


@pytest.fixture(scope="module")
def measure_points(database, sample_city) -> dict:
    """Points on roads (nothing above them to click instead): two 150–400 m apart for a distance,
    three for an area."""
    with database.connect() as conn:
        points = conn.execute(
            text(
                """SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(red_line), 4326) AS p
                     FROM road ORDER BY code) s"""
            )
        ).all()
    geod = Geod(ellps="WGS84")
    far = lambda p, q: geod.inv(p[0], p[1], q[0], q[1])[2]  # noqa: E731

    def area(a: tuple, b: tuple, c: tuple) -> float:
        return abs(geod.polygon_area_perimeter([a[0], b[0], c[0]], [a[1], b[1], c[1]])[0])

    # the first pair 150–400 m apart with a third point under 500 m from both spanning 5,000 m² or more
    a, b, third = next(
        (a, b, c)
        for i, a in enumerate(points)
        for b in points[i + 1 :]
        if 150 < far(a, b) < 400
        for c in points
        if far(a, c) < 500 and far(b, c) < 500 and area(a, b, c) > 5000
    )
    return {"distance": [list(a), list(b)], "area": [list(a), list(b), list(third)], "height": 900}


@pytest.fixture(scope="module")
def measured(run_e2e, city_server, measure_points) -> dict:
    return run_e2e(city_server, ["measure"], script="work.mjs", measure=measure_points, timeout_s=600)


def test_measured_distance_and_area_match_the_geodesic(measured, measure_points):
    answers = step(measured, "measure")
    geod = Geod(ellps="WGS84")
    (a, b) = measure_points["distance"]
    expected = geod.inv(a[0], a[1], b[0], b[1])[2]
    distance = answers["distance"]["result"]["distance_m"]
    assert distance == pytest.approx(expected, rel=0.01)
    assert f"{distance:.2f} m" in answers["distance"]["panel"] and "水平距离" in answers["distance"]["panel"]
    lons, lats = zip(*measure_points["area"], strict=True)
    area, perimeter = geod.polygon_area_perimeter(lons, lats)
    assert answers["area"]["result"]["area_m2"] == pytest.approx(abs(area), rel=0.01)
    assert answers["area"]["result"]["perimeter_m"] == pytest.approx(perimeter, rel=0.01)
    # the marks stay after the next tool starts, until cleared
    assert answers["entities_kept"] >= 2 + 3 and answers["entities_after_clear"] == 0


SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


@pytest.fixture(scope="module")
def burst_pipe(database, sample_city) -> str:
    """A water pipe between two nodes that are not valves (its burst closes valves around it)."""
    with database.connect() as conn:
        return conn.execute(
            text(
                """SELECT l.id FROM pipeline l JOIN pipe_node a ON a.id = l.from_node
                     JOIN pipe_node b ON b.id = l.to_node
                    WHERE l.utility = 'water' AND a.kind <> 'valve' AND b.kind <> 'valve' ORDER BY l.id LIMIT 1"""
            )
        ).scalar_one()


@pytest.fixture(scope="module")
def worked(run_e2e, city_server, burst_pipe, measure_points) -> dict:
    a, b = measure_points["distance"]
    return run_e2e(
        city_server,
        ["results"],
        script="work.mjs",
        pipe=burst_pipe,
        profile=[a, b],
        profile_height=700,
        login=["planner", "planner-demo"],
        timeout_s=600,
    )


def test_emergency_rows_fly_to_and_highlight_the_feature_the_burst_pipe_apart(worked, burst_pipe, database):
    answer = step(worked, "results")
    assert answer["burst_colour"] == "#d500f9" and answer["affected_colour"] not in (None, "#d500f9")
    assert answer["valves"] and answer["buildings"], answer
    valve, building = answer["clicked"]["pipe_nodes"], answer["clicked"]["buildings"]
    assert valve["id"] == answer["valves"][0] and building["id"] == answer["buildings"][0]
    with database.connect() as conn:
        for clicked, sql in (
            (
                valve,
                "SELECT ST_Distance(ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), ST_SRID(geom)), geom) "
                "FROM pipe_node WHERE id = :id",
            ),
            (
                building,
                "SELECT ST_Distance(ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4326), ST_SRID(footprint)), "
                "footprint) FROM building WHERE code = :id",
            ),
        ):
            lon, lat, pitch = clicked["camera"]
            # straight above it: the point below the camera is on the valve / inside the footprint
            away = conn.execute(text(sql), {"x": lon, "y": lat, "id": clicked["id"]}).scalar_one()
            assert away < 0.5 and abs(pitch + math.pi / 2) < 1e-3, clicked
            assert clicked["colour"] == "#ffff00"


def test_the_profile_chart_has_axes_and_every_crossing_and_drawings_stay(worked):
    answer = step(worked, "results")
    profile = answer["profile"]
    assert profile["x_name"] == "里程（米）" and profile["y_name"] == "高程（米）"
    assert profile["series"]["ground"] == sum(
        1 for g in profile["answer"]["ground"] if g["ground_h_orthometric"] is not None
    )
    assert profile["series"]["pipes"] == len(profile["answer"]["pipes"])
    assert profile["series"]["tunnels"] == len(profile["answer"]["tunnels"])
    width, height = profile["size"]
    assert width >= 320 and height >= 280
    # tick labels along both axes, the line's length among them
    numbers = [float(s) for s in profile["axis_texts"] if re.fullmatch(r"-?\d+(\.\d+)?", s)]
    assert len(numbers) >= 6
    # the profile's line stays after the next tool starts; the clear button removes every drawing
    assert answer["lines_after_profile"] == 1 and answer["lines_after_next_tool"] == 2
    assert answer["lines_after_clear"] == 0


@pytest.fixture(scope="module")
def card_targets(database, sample_city) -> dict:
    with database.connect() as conn:
        one = lambda sql: conn.execute(text(sql)).scalar()  # noqa: E731
        return {
            "public": one("SELECT code FROM building WHERE use = 'public' ORDER BY code LIMIT 1"),
            "grade_d": one("SELECT code FROM building WHERE safety_grade = 'D' ORDER BY code LIMIT 1"),
            "tallest": one("SELECT code FROM building ORDER BY height_m DESC, code LIMIT 1"),
            "pipe": one("SELECT id FROM pipeline ORDER BY id LIMIT 1"),
            "node": one("SELECT id FROM pipe_node WHERE kind = 'valve' ORDER BY id LIMIT 1"),
            "compartment": one("SELECT id FROM tunnel_compartment ORDER BY id LIMIT 1"),
        }


def test_panels_in_chinese_show_no_raw_field_names_and_the_right_words(run_e2e, city_server, card_targets, database):
    from core import vocab

    with database.connect() as conn:  # identifiers are data (a sensor's id names its kind): not scanned
        sensors = list(conn.scalars(text("SELECT id FROM sensor")))

    layers = {"public": "buildings", "grade_d": "buildings", "tallest": "buildings", "pipe": "pipelines"}
    layers |= {"node": "pipe_nodes", "compartment": "tunnel_compartments"}
    cards = [{"layer": layers[k], "id": v} for k, v in card_targets.items() if v]
    report = run_e2e(
        city_server, ["cards"], script="work.mjs", cards=cards, login=["planner", "planner-demo"], timeout_s=600
    )
    answers = {a["id"]: "\n".join(a["texts"]) for a in step(report, "cards")}
    for card in cards:
        shown = answers[card["id"]]
        assert card["id"] in shown
        for sensor in sensors:
            shown = shown.replace(sensor, "")
        assert SNAKE.findall(shown) == [], (card, SNAKE.findall(shown))
    if card_targets["public"]:
        shown = answers[card_targets["public"]]
        assert vocab.get("building_uses").term("public").label.zh in shown and "访客" not in shown
    if card_targets["grade_d"]:
        shown = answers[card_targets["grade_d"]]
        assert vocab.get("grades_safety").term("D").label.zh in shown
        assert "严重失信 / 危房" not in shown
    # money in 万元 and dates written out (the tallest building's project)
    shown = answers[card_targets["tallest"]]
    assert "万元" in shown and re.search(r"\d{4}年\d{2}月\d{2}日", shown)

"""The viewer as a place to work (issue 17), in Debian's headless Chromium (playwright-core, driver
tests/e2e/work.mjs) against `cim serve` on the sample city, with every request to a host other than
127.0.0.1 aborted: the API docs, navigation and share links, coordinates in the search box,
measuring and section cutting, results that stay, record cards. Expected answers come from the
database by SQL, from pyproj and from the OpenAPI document, not from the viewer's code.
Screenshots land in test-artifacts/work-*.png."""

from __future__ import annotations

import json
import math
import re
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from pyproj import Transformer
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
    return run_e2e(city_server, ["docs", "redoc"], script="work.mjs")


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
    report = run_e2e(city_server, ["navigate", "share"], script="work.mjs", building=tall_building)
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
    for name in ("zoomed_in", "zoomed_out"):
        view = nav[name]
        # buildings drawn (tiles selected, draw commands issued) and the canvas not one flat colour
        assert view["city"]["selected"] > 0 and view["city"]["commands"] > 0, (name, view)
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
    report = run_e2e(city_server, ["coordinates"], script="work.mjs", places=[{"q": p["q"]} for p in places])
    answers = step(report, "coordinates")
    for place, answer in zip(places, answers, strict=True):
        assert len(answer["suggestions"]) == 1 and answer["suggestions"][0].startswith("坐标"), answer
        lon, lat, height = answer["camera"]
        # straight above the place (a decimetre is 1e-6 degrees), from a few hundred metres
        assert abs(lon - place["lon"]) < 2e-6 and abs(lat - place["lat"]) < 2e-6, (place, answer)
        assert 100 < height < 1000
        assert abs(answer["pin"][0] - place["lon"]) < 2e-6 and abs(answer["pin"][1] - place["lat"]) < 2e-6
    assert report["outside"] == []

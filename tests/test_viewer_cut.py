"""Cutting and depth in the viewer (issue 17 item 6), in Debian's headless Chromium (driver
tests/e2e/cut.mjs) against `cim serve` on the sample city: a horizontal section plane through a
published BIM model, an excavation pit drawn around a pipe (ground and city clipped to it, the
analysis beside it), the ground-to-pipe depth and the height measured by clicks. Expected answers
come from SQL, pyproj and the API, not from the viewer's code. Screenshots: test-artifacts/cut-*.png."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from pyproj import Geod
from sqlalchemy import text

PLANNER = ["planner", "planner-demo"]


def step(report: dict, name: str) -> dict:
    answer = report["steps"][name]
    assert "error" not in answer, f"step {name} failed: {answer}"
    return answer


def call(url: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def token_of(base: str, user: list[str]) -> str:
    form = urllib.parse.urlencode({"username": user[0], "password": user[1]}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base}api/v1/auth/token", data=form), timeout=30) as response:
        return json.loads(response.read())["access_token"]


def pixel(path: Path, xy: list[int]) -> tuple[float, ...]:
    """Mean colour of the 5×5 pixels around xy."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        x, y = xy
        block = [rgb.getpixel((x + dx, y + dy)) for dx in range(-2, 3) for dy in range(-2, 3)]
    return tuple(sum(c[k] for c in block) / len(block) for k in range(3))


def differ(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def extent(city_server) -> dict:
    return call(f"{city_server}api/v1/terrain/extent")


@pytest.fixture(scope="module")
def model_box(published_model, database, extent) -> dict:
    """The published model's place, vertical extent (orthometric) and horizontal span from its
    elements' rows, and the section's slider value: half way up, counted from the city's lowest
    ground (0.5 m steps)."""
    with database.connect() as conn:
        row = conn.execute(
            text(
                """SELECT ST_X(c) AS lon, ST_Y(c) AS lat, base, top, span FROM (SELECT min(z_min) AS base,
                     max(z_max) AS top, ST_Transform(ST_Centroid(ST_Collect(footprint)), 4326) AS c,
                     ST_MaxDistance(ST_Collect(footprint), ST_Collect(footprint)) AS span
                     FROM bim_element WHERE version_id = :v) s"""
            ),
            {"v": published_model["version_id"]},
        ).one()
    height = row.top - row.base
    above = round(2 * (row.base + height / 2 - extent["h_orthometric_min"])) / 2
    return {
        "lon": row.lon,
        "lat": row.lat,
        "base_h_orthometric": row.base,
        "height_m": height,
        "above": above,
        "across": round(row.span + 10),  # a vertical plane this far from a point on the model leaves all of it aside
    }


def test_a_horizontal_section_hides_the_model_above_the_plane_and_keeps_what_is_below(
    cut_report, model_box, extent, artifacts
):
    cut = step(cut_report, "section")
    # the plane where the slider puts it: the model's mid-height by its own rows (half a metre steps)
    plane_orthometric = extent["h_orthometric_min"] + model_box["above"]
    assert cut["cut"]["h_ellipsoidal"] - cut["undulation"] == pytest.approx(plane_orthometric, abs=1e-6)
    assert cut["cut"]["planes"] == 1 and f"{model_box['above']:g} m" in cut["label"]
    before, after, off = (artifacts / f"cut-section-{n}.png" for n in ("before", "after", "off"))
    high, low = cut["points"]["high"], cut["points"]["low"]
    # above the plane (85 % up): the model's pixels are gone and it no longer picks; below (20 %) unchanged
    assert differ(pixel(before, high), pixel(after, high)) > 20, cut
    assert cut["picks"][0][0] != "bim_elements" and cut["picks"][1][0] == "bim_elements", cut
    assert differ(pixel(before, low), pixel(after, low)) < 8, cut
    # a vertical plane moved beyond the whole model cuts all of it; moved towards the camera, none
    assert all(layer == "bim_elements" for layer, _ in cut["vertical"]["near"]), cut["vertical"]
    assert all(layer != "bim_elements" for layer, _ in cut["vertical"]["far"]), cut["vertical"]
    # and back once the section is switched off
    assert differ(pixel(before, high), pixel(off, high)) < 8, cut


@pytest.fixture(scope="module")
def pipe(database, sample_city) -> dict:
    """A pipe shallower than 4 m at its middle, at least 40 m long, with no other pipe within 2 m of
    its middle; its middle in lon/lat, a 16 m square pit about it and a point 40 m east of it."""
    with database.connect() as conn:
        row = conn.execute(
            text(
                """WITH p AS (SELECT id, depth_m, depth_ref, diameter_mm, geom,
                                     ST_LineInterpolatePoint(ST_Force2D(geom), 0.5) AS mid FROM pipeline
                               WHERE depth_m IS NOT NULL AND depth_m < 4 AND ST_Length(geom) > 40)
                   SELECT id, depth_m, depth_ref, diameter_mm, ST_AsGeoJSON(ST_Transform(mid, 4326)) AS mid,
                          ST_AsGeoJSON(ST_Transform(ST_Expand(mid, 8), 4326)) AS pit,
                          ST_AsGeoJSON(ST_Transform(ST_Translate(mid, 40, 0), 4326)) AS outside
                     FROM p WHERE NOT EXISTS (SELECT 1 FROM pipeline o WHERE o.id <> p.id
                                               AND ST_DWithin(ST_Force2D(o.geom), p.mid, 2))
                    ORDER BY id LIMIT 1"""
            )
        ).one()
    ring = json.loads(row.pit)["coordinates"][0][:4]
    return {
        "id": row.id,
        "depth_m": row.depth_m,
        "top_depth_m": row.depth_m - (row.diameter_mm or 0) / 2000 if row.depth_ref == "axis" else row.depth_m,
        "mid": json.loads(row.mid)["coordinates"],
        "ring": ring,
        "outside": json.loads(row.outside)["coordinates"],
    }


@pytest.fixture(scope="module")
def cut_report(run_e2e, city_server, model_box, pipe, tall) -> dict:
    """Every step in one page (loaded once, and once more after the login)."""
    pit = {"ring": pipe["ring"], "depth_m": 6, "outside": pipe["outside"], "above": 160}
    depth = {"lon": pipe["mid"][0], "lat": pipe["mid"][1], "above": 60}
    return run_e2e(
        city_server,
        ["section", "excavation", "depth", "height"],
        script="cut.mjs",
        login=PLANNER,
        section=model_box,
        pit=pit,
        depth=depth,
        height=tall,
        timeout_s=600,
    )


def expected_pit(database, ring: list[list[float]], depth_m: float) -> dict:
    """The pipes a dig of depth_m inside the ring reaches, by SQL here: the axis crosses the pit and
    the pipe's top lies above the pit's floor (a pipe of unknown depth counts)."""
    polygon = json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
    with database.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT id, depth_m, depth_ref, diameter_mm, owner,
                          ST_Length(ST_Intersection(ST_Force2D(geom), a)) AS length_m
                     FROM pipeline, (SELECT ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326),
                                            Find_SRID('public', 'pipeline', 'geom')) AS a) s
                    WHERE ST_Intersects(ST_Force2D(geom), a)"""
            ),
            {"g": polygon},
        ).all()
    pipes = {}
    for r in rows:
        top = r.depth_m
        if top is not None and r.depth_ref == "axis":
            top -= (r.diameter_mm or 0) / 2000
        if top is None or top < depth_m:
            pipes[r.id] = {"top_depth_m": top, "length_m": r.length_m, "owner": r.owner}
    return pipes


def test_an_excavation_pit_clips_the_ground_and_lists_what_the_dig_reaches(
    cut_report, pipe, database, city_server, artifacts
):
    dug = step(cut_report, "excavation")
    state = dug["state"]
    # the pit the clicks drew: the test's corners, to two pixels of the view (a click lands on a pixel)
    geod = Geod(ellps="WGS84")
    for drawn, meant in zip(state["ring"], pipe["ring"], strict=True):
        assert geod.inv(drawn[0], drawn[1], meant[0], meant[1])[2] < 2 * state["pixel_m"], (drawn, meant)
    expected = expected_pit(database, state["ring"], 6)
    assert pipe["id"] in expected
    # the panel: its figures are SQL's (ids, top depths, lengths in the pit, owners) and pyproj's area
    shown = {p["id"]: p["cells"] for p in dug["pipes"]}
    assert set(shown) == set(expected)
    for pid, cells in shown.items():
        assert float(cells[2]) == pytest.approx(expected[pid]["top_depth_m"], abs=1e-6)
        assert float(cells[3]) == pytest.approx(expected[pid]["length_m"], abs=0.01)
    figures = dug["figures"]
    assert figures["dig_depth"]["value"] == 6
    assert figures["pipes_hit"]["value"] == len(expected)
    length = sum(p["length_m"] for p in expected.values())
    assert figures["pipe_length_in_pit"]["value"] == pytest.approx(length, abs=0.02)
    lons, lats = zip(*state["ring"], strict=True)
    assert figures["pit_area"]["value"] == pytest.approx(abs(geod.polygon_area_perimeter(lons, lats)[0]), rel=0.01)
    assert set(dug["owners"]) >= {p["owner"] for p in expected.values() if p["owner"]}
    # the same as the API's own answer for that pit, which the panel shows in Chinese
    token = token_of(city_server, PLANNER)
    ring = [*state["ring"], state["ring"][0]]
    body = {"area": {"type": "Polygon", "coordinates": [ring]}, "depth_m": 6}
    answer = call(f"{city_server}api/v1/analysis/excavation", body, token)
    assert [p["id"] for p in answer["pipes"]] == [p["id"] for p in dug["pipes"]]
    assert figures["tunnels_hit"]["value"] == len(answer["tunnels"]) and dug["owners"] == answer["owners_to_notify"]
    assert figures["pipes_hit"]["label"] == "涉及管线" and dug["title"] == "开挖分析"
    assert dug["heads"][:3] == ["管线编号", "管线类别", "管顶埋深（米）"]
    # the clip: the ground and the city's tilesets, not the pipes; the pipes reached highlighted
    assert state["globe_polygons"] == 1 and state["tilesets"]["buildings"] == 1
    assert state["tilesets"]["pipelines"] == 0 and state["translucent"] is True
    assert set(state["highlighted"]) == set(expected)
    # in the same frame with the ground's clip off, the pit's middle changes and the ground 40 m away does not
    clipped, unclipped, again = (artifacts / f"cut-{n}.png" for n in ("pit", "pit-unclipped", "pit-again"))
    centre, outside = dug["probes"]["centre"], dug["probes"]["outside"]
    assert differ(pixel(clipped, centre), pixel(unclipped, centre)) > 15, dug["probes"]
    assert differ(pixel(clipped, outside), pixel(unclipped, outside)) < 6, dug["probes"]
    assert differ(pixel(clipped, centre), pixel(again, centre)) < 6, dug["probes"]
    # the pit stays until cleared
    assert dug["kept"] >= 2 and dug["cleared"] == {"entities": 0, "globe_polygons": 0}


def test_the_depth_tool_measures_a_pipe_at_its_depth_on_record(cut_report, pipe):
    measured = step(cut_report, "depth")
    result = measured["result"]
    assert result["id"] == pipe["id"] and result["record_depth_m"] == pytest.approx(pipe["depth_m"])
    # ground (the DEM) less the pipe's top under the click: the top depth from PostGIS's row
    assert result["depth_m"] == pytest.approx(pipe["top_depth_m"], abs=0.15), (result, pipe)
    assert "量测埋深" in measured["panel"] and f"{result['depth_m']:.2f} m" in measured["panel"]


@pytest.fixture(scope="module")
def tall(database, sample_city, extent) -> dict:
    """The tallest building: a point on its roof (ellipsoidal, with the DEM's undulation) and a
    point on open ground 6–12 m from it (no building within 3 m); its height and ground by SQL."""
    with database.connect() as conn:
        row = conn.execute(
            text(
                """WITH b AS (SELECT footprint AS f, height_m, ground_h_orthometric FROM building
                               ORDER BY height_m DESC, code LIMIT 1)
                   SELECT height_m, ground_h_orthometric,
                          ST_AsGeoJSON(ST_Transform(ST_PointOnSurface(f), 4326)) AS roof,
                          ST_AsGeoJSON(ST_Transform(ST_PointOnSurface(ST_Difference(ST_Buffer(f, 12),
                              (SELECT ST_Union(ST_Buffer(o.footprint, 6)) FROM building o
                                WHERE ST_DWithin(o.footprint, f, 30)))), 4326)) AS ground
                     FROM b"""
            )
        ).one()
    undulation = extent["h_ellipsoidal_min"] - extent["h_orthometric_min"]
    roof = json.loads(row.roof)["coordinates"]
    return {
        "height_m": row.height_m,
        "ground": json.loads(row.ground)["coordinates"],
        "roof": [roof[0], roof[1], row.ground_h_orthometric + row.height_m + undulation],
        "above": row.height_m * 2 + 150,
    }


def test_the_height_tool_measures_a_building_from_the_ground_to_its_roof(cut_report, tall):
    result = step(cut_report, "height")["result"]
    # the roof over the ground beside the building: its height on record (the DEM's slope over 12 m aside)
    assert result["height_difference_m"] == pytest.approx(tall["height_m"], abs=0.5), (result, tall)
    assert "高差" in step(cut_report, "height")["panel"]

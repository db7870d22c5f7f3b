"""End-to-end tests of the CesiumJS viewer: Debian's headless Chromium (playwright-core) against
`cim serve` on the sample city. One browser session walks load → click a building → pipe burst →
IFC upload for review; a second one loads the page with an API request failing and one slow.
Expected answers come from the test database by SQL (and networkx), not from the API's code.
Screenshots of each step land in test-artifacts/viewer-*.png."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import deque
from urllib.parse import urlparse

import networkx as nx
import numpy as np
import pytest
from sqlalchemy import text

from core.registry import registry
from sample_models.review_models import author_review_model
from tests.fixtures_gis import CIM
from tests.fixtures_review import ground_at
from tests.fixtures_viewer import ROOT

TILESETS = {"buildings", "pipelines", "pipe_nodes", "tunnel_compartments"}
# below the ground: not loaded for the initial view, loaded by underground mode
UNDERGROUND = {"pipelines", "pipe_nodes", "tunnel_compartments"}
# draped layer -> the table its features come from (every row is a feature, drawn when it has a geometry)
DRAPED = ("projects", "parcels", "roads")


@pytest.fixture(scope="module")
def known_building(database, sample_city) -> dict:
    """A tall building (easy to click from above) whose project has a graded contractor, by SQL."""
    with database.connect() as conn:
        row = conn.execute(
            text(
                """SELECT b.code, e.name, e.credit_grade, p.code AS project
                     FROM building b JOIN project p ON p.code = b.project_code
                     JOIN enterprise e ON e.uscc = p.contractor_uscc
                    WHERE e.credit_grade IS NOT NULL AND ST_Area(b.footprint) > 300
                    ORDER BY b.height_m DESC, b.code LIMIT 1"""
            )
        ).one()
    return dict(row._mapping)


def valves_to_close(conn, pipe_id: str) -> set[str]:
    """Open valves bounding the section of a burst pipe: a search over the utility's graph from the
    pipe's two end nodes that stops at valves (networkx over pipeline.from_node/to_node)."""
    utility = conn.execute(text("SELECT utility FROM pipeline WHERE id = :p"), {"p": pipe_id}).scalar_one()
    graph = nx.MultiGraph()
    for a, b in conn.execute(
        text(
            "SELECT from_node, to_node FROM pipeline WHERE utility = :u AND from_node IS NOT NULL "
            "AND to_node IS NOT NULL AND status <> 'abandoned'"
        ),
        {"u": utility},
    ):
        graph.add_edge(a, b)
    nodes = {
        r.id: r
        for r in conn.execute(text("SELECT id, kind, is_open FROM pipe_node WHERE utility = :u"), {"u": utility})
    }
    start = conn.execute(text("SELECT from_node, to_node FROM pipeline WHERE id = :p"), {"p": pipe_id}).one()
    found: set[str] = set()
    seen: set[str] = set()
    queue = deque(start)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        if nodes[node].kind == "valve":
            if nodes[node].is_open:
                found.add(node)
            continue
        queue.extend(graph.neighbors(node))
    return found


@pytest.fixture(scope="module")
def burst(database, sample_city) -> dict:
    """The first water pipe (by id) between two non-valve nodes whose burst needs 2+ valves closed."""
    with database.connect() as conn:
        candidates = conn.execute(
            text(
                """SELECT l.id FROM pipeline l JOIN pipe_node a ON a.id = l.from_node
                     JOIN pipe_node b ON b.id = l.to_node
                    WHERE l.utility = 'water' AND a.kind <> 'valve' AND b.kind <> 'valve' ORDER BY l.id"""
            )
        ).scalars()
        for pipe_id in candidates:
            valves = valves_to_close(conn, pipe_id)
            if len(valves) >= 2:
                return {"pipe": pipe_id, "valves": valves}
    pytest.fail("the sample city has no water pipe whose burst closes two valves")


@pytest.fixture(scope="module")
def review_ifc(review_site, tmp_path_factory) -> dict:
    """A building on the review site's free spot with one wall missing its FireRating."""
    x, y = review_site.spot
    path = tmp_path_factory.mktemp("viewer-review") / "viewer-review.ifc"
    return author_review_model(
        path,
        missing_fire_rating=True,
        storeys=1,
        eastings=x,
        northings=y,
        height=ground_at(x, y),
        rotation_deg=0.0,
        name="Viewer review building",
    )


@pytest.fixture(scope="module")
def session(run_e2e, city_server, known_building, burst, review_ifc, review_site) -> dict:
    """One browser session: load, click the building, burst the pipe, upload the IFC."""
    return run_e2e(
        city_server,
        ["load", "building", "incident", "upload"],
        building=known_building["code"],
        pipe=burst["pipe"],
        ifc=str(review_ifc["path"]),
        project=review_site.project,
        login=["planner", "planner-demo"],
    )


def step(report: dict, name: str) -> dict:
    answer = report["steps"][name]
    assert "error" not in answer, f"step {name} failed: {answer}"
    return answer


def test_no_request_leaves_127_0_0_1(session, city_server):
    assert session["outside"] == []
    assert session["requests"], "the driver saw no request at all"
    hosts = {urlparse(u).hostname for u in session["requests"] if urlparse(u).scheme in ("http", "https")}
    assert hosts == {"127.0.0.1"}
    # CesiumJS itself comes from the server (vendored from npm), never a CDN
    assert any(u.startswith(f"{city_server}vendor/cesium-viewer/Cesium.js") for u in session["requests"])
    assert session["failed"] == []


def test_page_loads_with_all_tiles_and_the_ground_underground_layers_on_demand(session, database, artifacts):
    load = step(session, "load")
    assert "buildings" in load["initial_tilesets"] and not UNDERGROUND & set(load["initial_tilesets"])
    assert set(load["tilesets"]) >= TILESETS
    assert set(load["underground_checked"]) >= UNDERGROUND
    for layer in TILESETS:
        assert load["all_tiles_loaded"].get(layer, 0) >= 1, f"{layer} never reported allTilesLoaded"
    assert load["globe_tiles_loaded"] is True
    assert load["first_all_loaded_ms"] and load["first_all_loaded_ms"] > 0
    assert load["banner"].strip() == "", f"messages on a clean load: {load['banner']}"
    assert load["drape_toggle"] == {"shown": False, "replaced": True, "back": True, "imagery_layers": 1}
    assert load["brdf_lut_shipped"] is True, "CesiumJS computed its BRDF table itself"
    with database.connect() as conn:
        for layer in DRAPED:  # the layer's own rows (soft-deleted projects are not drawn)
            count = conn.execute(text(f"SELECT count(*) FROM {registry().layer(layer).from_clause}")).scalar_one()
            assert load["draped"][layer] == count, layer
    assert (artifacts / "viewer-01-loaded.png").stat().st_size > 10_000


def test_clicking_a_building_shows_its_contractor_and_credit_grade(session, known_building, artifacts):
    building = step(session, "building")
    assert building["picked"] == {"layer": "buildings", "id": known_building["code"]}
    assert known_building["code"] in building["title"]
    assert known_building["project"] in building["panel"]
    contractor = building["contractor"]
    assert contractor, "no contractor section in the side panel"
    assert known_building["name"] in contractor
    assert re.search(rf"信用等级\s+{known_building['credit_grade']}\b", contractor), contractor
    assert (artifacts / "viewer-02-building.png").exists()


def test_pipe_burst_lists_and_marks_the_valves_to_close(session, burst, artifacts):
    incident = step(session, "incident")
    assert set(incident["valves"]) == burst["valves"]
    assert len(incident["valves"]) == len(burst["valves"])
    # the valves are coloured in the pipe_nodes tileset, the burst pipe among the highlighted pipes
    assert set(incident["highlighted"]["pipe_nodes"]) == burst["valves"]
    assert burst["pipe"] in incident["highlighted"]["pipelines"]
    assert (artifacts / "viewer-03-incident.png").exists()


def test_upload_shows_progress_and_the_review_report(session, database, review_ifc, review_site, artifacts):
    upload = step(session, "upload")
    assert upload["report_ok"] is True
    values = upload["progress_values"]
    assert 100 in values and any(0 < v < 100 for v in values), values
    with database.connect() as conn:
        review, version = conn.execute(
            text("SELECT id, model_version_id FROM drawing_review WHERE project_code = :p ORDER BY id DESC LIMIT 1"),
            {"p": review_site.project},
        ).one()
        failing = set(
            conn.execute(
                text(
                    "SELECT global_id FROM review_issue WHERE review_id = :r AND NOT resolved AND global_id IS NOT NULL"
                ),
                {"r": review},
            ).scalars()
        )
    assert upload["review_id"] == review
    assert f"#{review}" in upload["label"]
    assert int(upload["issue_count"]) == len(failing)
    assert review_ifc["wall_without_fire_rating"] in failing
    # the failing elements are marked red (the version under review is not published, so as solids
    # from the API's footprints) and the camera flew to them
    assert upload["marked"]["layer"] in ("elements", f"bim-{version}")
    assert set(upload["marked"]["ids"]) == failing
    if upload["marked"]["layer"] == "elements":
        assert upload["camera_near_marks"] < 300
    assert (artifacts / "viewer-04-upload-progress.png").exists() and (
        artifacts / "viewer-05-review-report.png"
    ).exists()


@pytest.fixture(scope="module")
def broken(run_e2e, city_server) -> dict:
    """The page with the parcels and DEM heights requests answered 500 and the roads request 6 s late.
    The heights requests start before the page's modules run: their error must still show."""
    return run_e2e(
        city_server, ["broken"], **{"break": ["collections/parcels", "terrain/heights"], "slow": ["collections/roads"]}
    )


def test_the_shipped_brdf_table_is_the_one_cesiumjs_computes(e2e_tools, city_server, tmp_path):
    """viewer/assets/brdf-lut-rg8.bin against CesiumJS's own BrdfLutGenerator, run now in Chromium."""
    computed = tmp_path / "brdf-lut-rg8.bin"
    done = subprocess.run(
        ["node", str(ROOT / "scripts" / "brdf_lut.mjs"), city_server, str(computed)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    shipped = np.fromfile(ROOT / "viewer" / "assets" / "brdf-lut-rg8.bin", dtype=np.uint8)
    assert shipped.size == 256 * 256 * 2
    # byte for byte here; another Chromium or SwiftShader may round a few texels the other way
    difference = np.abs(np.fromfile(computed, dtype=np.uint8).astype(int) - shipped)
    assert difference.max() <= 1 and np.count_nonzero(difference) <= shipped.size // 100


def test_failed_and_slow_requests_show_in_the_banner_not_a_blank_globe(broken, artifacts):
    answer = step(broken, "broken")
    assert any("collections/parcels" in e and "500" in e for e in answer["errors"]), answer["errors"]
    assert any("terrain/heights" in e and "500" in e for e in answer["errors"]), answer["errors"]
    assert answer["slow_shown"] is True and "collections/roads" in answer["slow_text"]
    assert "thrown on purpose by the test" in answer["banner"]
    # the rest still shows: the globe, the tilesets, all their tiles
    assert answer["canvas"] == 1 and answer["globe_shown"] is True
    assert set(answer["tilesets"]) >= TILESETS and answer["tiles_loaded"] is True
    assert broken["outside"] == []
    assert (artifacts / "viewer-06-broken.png").exists()


@pytest.fixture(scope="module")
def streetlights(database, city_server, tmp_path_factory) -> dict:
    """Three streetlight cables imported from a GeoJSON file with `cim gis import --layer pipelines
    --utility streetlight` beside the first road, and the pipelines tiles rebuilt; removed again
    (rows, their end nodes, the import's issues) and the tiles rebuilt after the module."""
    from tiles.build import build_layer

    with database.connect() as conn:
        x, y = conn.execute(
            text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(red_line) AS c FROM road ORDER BY code LIMIT 1) s")
        ).one()
        issues = conn.execute(text("SELECT COALESCE(max(id), 0) FROM network_issue")).scalar_one()
    ids = [f"SL-E2E-{k}" for k in range(3)]
    features = [
        {
            "type": "Feature",
            "properties": {"id": pid, "diameter_mm": 60, "depth_m": 0.7, "material": "PVC"},
            "geometry": {"type": "LineString", "coordinates": [[x + 3 * k, y - 20], [x + 3 * k, y + 20]]},
        }
        for k, pid in enumerate(ids)
    ]
    path = tmp_path_factory.mktemp("streetlight") / "streetlights.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    done = subprocess.run(
        [
            str(CIM),
            "gis",
            "import",
            str(path),
            "--layer",
            "pipelines",
            "--utility",
            "streetlight",
            "--crs",
            "EPSG:4549",
            "--json",
        ],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["written"] == len(ids)
    build_layer("pipelines")
    yield {"ids": ids}
    with database.begin() as conn:
        nodes = conn.execute(text("SELECT from_node, to_node FROM pipeline WHERE utility = 'streetlight'")).all()
        conn.execute(text("DELETE FROM pipeline WHERE utility = 'streetlight'"))
        conn.execute(
            text("DELETE FROM pipe_node WHERE id = ANY(:ids)"), {"ids": [n for pair in nodes for n in pair if n]}
        )
        conn.execute(text("DELETE FROM network_issue WHERE id > :i"), {"i": issues})
    build_layer("pipelines")


def test_imported_streetlight_pipes_show_with_their_own_checkbox_and_colour(
    run_e2e, city_server, streetlights, artifacts
):
    """The viewer's panel, legend and style come from GET /api/v1/layers: streetlight pipes (not in
    the sample city, imported from a file) get a checkbox labelled 路灯, are drawn in their CJJ 61
    colour from the utilities vocabulary, and the checkbox hides them."""
    from core import vocab

    term = vocab.get("utilities").term("streetlight")
    report = run_e2e(city_server, ["utility"], utility={"code": "streetlight", "ids": streetlights["ids"]})
    answer = step(report, "utility")
    assert answer["label"].strip() == term.label.zh and answer["checked"] is True
    assert term.label.zh in answer["legend"]
    assert {f["id"] for f in answer["shown"]} == set(streetlights["ids"])
    assert all(f["show"] and f["color"].lower() == term.color.lower() for f in answer["shown"]), answer["shown"]
    assert {f["id"] for f in answer["hidden"]} == set(streetlights["ids"])
    assert not any(f["show"] for f in answer["hidden"])
    assert answer["banner"].strip() == ""
    assert (artifacts / "viewer-07-utility.png").stat().st_size > 10_000

"""Placement beyond doubt: a model off its parcel gets one placement error (distance, direction,
declared georeferencing) and no planning noise; map conversions written in the wrong unit are
read by the evidence of the CRS's area of use (or refused); warnings come summarised."""

from __future__ import annotations

import math
import re
from collections import Counter

import ifcopenshell
import ifcopenshell.api.georeference
import numpy as np
import pytest
import shapely

from bim_ingest.georef import Override, georeference
from bim_ingest.review import rules
from bim_ingest.review.service import run_review
from bim_ingest.warning_summary import summarise
from core.errors import UserError
from sample_models.ifc_models import author_building
from sample_models.review_models import author_review_model
from tests.fixtures_review import ground_at, hull, spot_placement, store_meshes

# local metres across the authored building, its storeys and roof
PROBES = np.array([[0.0, 0.0, 0.0], [12.0, 0.0, 0.0], [12.0, 8.0, 9.0], [0.0, 8.0, 3.0], [-5.0, 40.0, 1.0]])


def _rewritten(source, target, **operation) -> ifcopenshell.file:
    """The model at ``source`` with its IfcMapConversion edited through ifcopenshell.api, written to ``target``."""
    model = ifcopenshell.open(str(source))
    ifcopenshell.api.georeference.edit_georeferencing(model, coordinate_operation=operation)
    model.write(str(target))
    return ifcopenshell.open(str(target))


@pytest.fixture(scope="module")
def authored(tmp_path_factory):
    """A millimetre model written correctly (Scale 0.001) and its georeferencing."""
    folder = tmp_path_factory.mktemp("georef-units")
    path = author_building(folder / "correct.ifc", eastings=497_480.5, northings=3_519_870.25, storeys=3)
    return folder, path, georeference(ifcopenshell.open(str(path)))


def test_eastings_northings_in_millimetres_land_where_the_correct_model_lands(authored):
    folder, path, correct = authored
    op = ifcopenshell.open(str(path)).by_type("IfcMapConversion")[0]
    model = _rewritten(path, folder / "mm.ifc", Eastings=op.Eastings * 1000, Northings=op.Northings * 1000, Scale=None)
    assert model.by_type("IfcMapConversion")[0].Scale is None
    g = georeference(model)
    assert np.abs(g.to_store(PROBES) - correct.to_store(PROBES)).max() < 0.01
    assert "E/N in project units" in g.report["reading"]
    flagged = [w for w in g.report["warnings"] if w.startswith("map conversion in the wrong unit")]
    assert len(flagged) == 1 and "readings tried" in flagged[0]


def test_scale_1000_for_a_millimetre_model_is_flagged_and_placed_correctly(authored):
    folder, path, correct = authored
    g = georeference(_rewritten(path, folder / "scale1000.ifc", Scale=1000.0))
    assert np.abs(g.to_store(PROBES) - correct.to_store(PROBES)).max() < 0.01
    assert g.report["scale"] == pytest.approx(0.001)
    assert g.report["declared"]["scale"] == 1000.0
    flagged = [w for w in g.report["warnings"] if w.startswith("map conversion in the wrong unit")]
    assert len(flagged) == 1 and "Scale 1000 inverted to 0.001" in flagged[0]


def test_a_map_conversion_no_reading_places_is_refused(authored):
    folder, path, _ = authored
    model = _rewritten(path, folder / "nowhere.ifc", Eastings=4.0e13, Northings=9.0e13)
    with pytest.raises(UserError, match="every reading tried") as refused:
        georeference(model)
    message = str(refused.value)
    assert "E/N in map units" in message and "E/N in project units" in message and "Scale 0.001" in message


def test_warnings_are_summarised_per_kind_and_class():
    warnings = (
        [f"not triangulated: IfcWall W{i} (no name): no body" for i in range(1800)]
        + [f"not triangulated: IfcSlab S{i} (no name): no body" for i in range(300)]
        + [f"duplicate GlobalId G{i}: kept the first" for i in range(7)]
        + ["vertical datum not given: heights taken as EPSG:5773 orthometric"]
    )
    summary = summarise(warnings)
    expected = Counter((w.split(":")[0], next((t for t in w.split() if t.startswith("Ifc")), None)) for w in warnings)
    assert summary["total"] == len(warnings)
    assert {(k["kind"], k["ifc_class"]): k["count"] for k in summary["kinds"]} == dict(expected)
    assert [k["count"] for k in summary["kinds"]] == sorted(expected.values(), reverse=True)
    assert all(0 < len(k["examples"]) <= 3 for k in summary["kinds"])
    assert sum(len(k["examples"]) for k in summary["kinds"]) <= 3 * len(expected)


def test_model_away_from_its_parcel_is_one_placement_error(review_site, tmp_path):
    x, y = review_site.spot
    parcel = review_site.parcel_geom
    # far enough north-east that no part of the building is on the parcel
    reach = math.sqrt(parcel.area) + shapely.distance(shapely.Point(x, y), parcel.centroid) + 300.0
    east, north = x + 0.6 * reach, y + 0.8 * reach
    height = ground_at(x, y)
    model = author_review_model(
        tmp_path / "away.ifc", storeys=3, eastings=east, northings=north, height=height, rotation_deg=0.0
    )
    document = run_review(model["path"], review_site.project)
    meshes = store_meshes(model["path"], east, north, height, 0.0)
    outline = shapely.union_all([hull(m) for m in meshes.values()]).convex_hull
    gap = outline.distance(parcel)
    dx, dy = outline.centroid.x - parcel.centroid.x, outline.centroid.y - parcel.centroid.y
    grid_bearing = math.degrees(math.atan2(dx, dy)) % 360

    assert [i["rule"] for i in document["issues"]] == [rules.PLACEMENT]
    issue = document["issues"][0]
    assert issue["severity"] == rules.ERROR
    assert issue["measured"] == pytest.approx(gap, abs=0.01)
    assert issue["details"]["bearing_deg"] == pytest.approx(grid_bearing, abs=0.5)
    assert issue["details"]["direction"] == {"zh": "东北", "en": "north-east"}
    assert issue["details"]["parcel"] == review_site.parcel
    message = issue["message"]
    assert f"{gap:.1f} m" in message and f"{gap:.1f} 米" in message and "north-east" in message and "东北" in message
    assert "IfcMapConversion EPSG:4549" in message and f"Eastings {east:.3f}" in message
    report = document["report"]
    assert [c["rule"] for c in report["planning"]["checks"]] == [rules.PLACEMENT]
    assert report["planning"]["checks"][0]["passed"] is False
    assert report["clashes"]["city"] == []
    assert report["passed"] is False


def test_a_model_placed_9000_km_away_is_one_clear_error_not_one_per_element(review_site, tmp_path):
    """A wrong origin typed into the upload form (Northings 9,000 km too far south): the review says
    in one error that the model is not on the project's parcel, with the distance; no per-element noise."""
    x, y = review_site.spot
    model = author_review_model(tmp_path / "far.ifc", storeys=2, **spot_placement(review_site))
    far = (x, y - 9_000_000.0, ground_at(x, y))
    document = run_review(model["path"], review_site.project, override=Override("EPSG:4549", far, 0.0))
    # the model's outline (local metres 0..12 x 0..8 about its origin) is far south of the parcel
    expected_gap = shapely.distance(shapely.box(far[0], far[1], far[0] + 12.0, far[1] + 8.0), review_site.parcel_geom)

    assert [i["rule"] for i in document["issues"]] == [rules.PLACEMENT]
    issue = document["issues"][0]
    assert issue["severity"] == rules.ERROR
    assert issue["measured"] == pytest.approx(expected_gap, abs=50.0)
    assert issue["details"]["direction"] == {"zh": "南", "en": "south"}
    message = issue["message"]
    assert message.startswith("模型未放置在本项目用地内")
    assert "The model is not placed on this project's parcel" in message
    km = re.search(r"约 ([\d,]+) 千米", message)
    assert km and float(km.group(1).replace(",", "")) == pytest.approx(expected_gap / 1000, abs=1.0)
    assert document["report"]["passed"] is False and document["report"]["georef"]["method"] == "override"


def test_scale_1000_model_on_its_parcel_is_reviewed_with_the_warning_summarised(
    review_site, tmp_path, client, role_headers
):
    path = author_review_model(tmp_path / "scale1000.ifc", storeys=2, **spot_placement(review_site))["path"]
    _rewritten(path, path, Scale=1000.0)
    document = run_review(path, review_site.project)
    assert document["issues"] == [] and document["report"]["passed"] is True
    placement = document["report"]["planning"]["checks"][0]
    assert placement["rule"] == rules.PLACEMENT and placement["passed"] is True and placement["overlap"] == 1.0
    summary = document["report"]["georef"]["warnings"]
    assert [(k["kind"], k["count"]) for k in summary["kinds"]] == [("map conversion in the wrong unit", 1)]
    assert "warnings" not in document["report"]
    url = f"/api/v1/reviews/{document['id']}"
    full = client.get(url, params={"all_warnings": True}, headers=role_headers["engineer"]).json()
    assert len(full["report"]["warnings"]) == summary["total"] == 1
    assert full["report"]["warnings"][0] == summary["kinds"][0]["examples"][0]
    assert "warnings" not in client.get(url, headers=role_headers["engineer"]).json()["report"]

"""Review in the viewer (数字化审图), in Debian's Chromium against `cim serve`: the upload form checks
login, file, project and placement before it sends anything; the report groups the issues by
severity and rule with counts and the vocabulary's colours; a click on an issue isolates its element
and flies to it; the links give the HTML report and the BCF file; a planner sees no decision
buttons, a reviewer does, and their clicks change the review in the database."""

from __future__ import annotations

import json
from collections import Counter

import ifcopenshell
import ifcopenshell.api.pset
import ifcopenshell.util.element
import pytest
from sqlalchemy import text

from core.db import session_scope
from core.users import upsert_user
from core.vocab import DEFAULT_DIR
from sample_models.review_models import author_review_model
from tests.fixtures_review import ground_at

REVIEWER = ["review-ui-reviewer", "review-ui-demo-1"]
PLANNER = ["planner", "planner-demo"]
CRS = "EPSG:4549"
NOTE = "按消防审查意见补填耐火等级"
OPINION = "请补全墙体耐火等级后重新报审"


def hex_rgb(colour: str) -> str:
    """'#D32F2F' as the browser's computed 'rgb(211, 47, 47)'."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(scope="module")
def two_walls(review_site, tmp_path_factory) -> dict:
    """A building on the review site's spot with two walls missing their FireRating and no building
    name: two IDS rules fail, one of them on two elements."""
    x, y = review_site.spot
    height = ground_at(x, y)
    path = tmp_path_factory.mktemp("review-ui") / "two-walls.ifc"
    model = author_review_model(path, missing_fire_rating=True, storeys=1, eastings=x, northings=y, height=height)
    ifc = ifcopenshell.open(str(path))
    walls = sorted(
        (w for w in ifc.by_type("IfcWall") if isinstance(w, ifcopenshell.entity_instance)), key=lambda w: w.GlobalId
    )
    second = walls[1]
    pset = ifc.by_id(ifcopenshell.util.element.get_pset(second, "Pset_WallCommon")["id"])
    assert isinstance(pset, ifcopenshell.entity_instance)
    ifcopenshell.api.pset.edit_pset(ifc, pset, properties={"FireRating": None})
    ifc.by_type("IfcBuilding")[0].Name = None
    ifc.write(str(path))
    return {"path": path, "walls": [model["wall_without_fire_rating"], second.GlobalId], "origin": (x, y, height)}


@pytest.fixture(scope="module")
def reviewer_user(database) -> list[str]:
    with session_scope() as session:
        upsert_user(session, REVIEWER[0], REVIEWER[1], "reviewer")
    return REVIEWER


@pytest.fixture(scope="module")
def walk(run_e2e, city_server, two_walls, review_site, reviewer_user) -> dict:
    x, y, h = two_walls["origin"]
    return run_e2e(
        city_server,
        script="review_ui.mjs",
        ifc=str(two_walls["path"]),
        project=review_site.project,
        crs=CRS,
        origin=f"{x:.3f},{y:.3f},{h:.3f}",
        planner=PLANNER,
        reviewer=reviewer_user,
        isolate=two_walls["walls"][1],
        note=NOTE,
        opinion=OPINION,
    )


def step(report: dict, name: str) -> dict:
    answer = report["steps"][name]
    assert "error" not in answer, f"step {name} failed: {answer}"
    return answer


def test_the_form_checks_login_file_project_and_placement_before_sending(walk):
    checks = step(walk, "checks")
    assert checks["anonymous"] == "请先登录（规划或工程人员）再上传审查模型"
    assert checks["no_file"] == "请选择要审查的 IFC 文件"
    assert checks["no_project"] == "请从列表中选择项目"
    assert checks["crs_without_origin"].startswith("坐标系与原点须同时填写")
    assert checks["banner"].startswith("坐标系与原点须同时填写")  # one message of the form, the latest
    assert checks["posted"] == 0


def test_issues_grouped_by_severity_and_rule_and_a_click_isolates_its_element(walk, database, two_walls):
    upload = step(walk, "upload")
    assert upload["georef_method"] == "override"  # the CRS and origin fields reached the review
    with database.connect() as conn:
        rows = conn.execute(
            text("SELECT severity, rule, global_id FROM review_issue WHERE review_id = :r"),
            {"r": upload["review_id"]},
        ).all()
    severities = json.loads((DEFAULT_DIR / "review_severities.json").read_text(encoding="utf-8"))
    colour = {e["code"]: e["color"] for e in severities["entries"]}
    shown = upload["panel"]
    # every issue once, under its severity and rule, with the counts of the database
    assert Counter((r.severity, r.rule) for r in rows) == Counter(
        {(g["severity"], r["rule"]): r["count"] for g in shown["groups"] for r in g["rules"]}
    )
    assert {g["severity"]: g["count"] for g in shown["groups"]} == Counter(r.severity for r in rows)
    for group in shown["groups"]:
        assert group["swatch"] == hex_rgb(colour[group["severity"]])
        assert all(i["border"] == hex_rgb(colour[group["severity"]]) for r in group["rules"] for i in r["issues"])
    walls = {r.global_id for r in rows if r.rule.startswith("ids:CIM-03")}
    assert walls == set(two_walls["walls"])
    assert {r.rule for r in rows} == {
        "ids:CIM-01 required classes: building",
        "ids:CIM-03 walls: fire rating and exterior flag",
    }
    assert shown["groups"][0]["label"].startswith("错误")
    wall_issues = [i for g in shown["groups"] for r in g["rules"] for i in r["issues"] if i["global_id"] in walls]
    assert all(i["message"].startswith("须填写属性集 Pset_WallCommon 中的 FireRating") for i in wall_issues)
    # the planner may not decide: no buttons
    assert shown["buttons"] == {"resolve": 0, "comment": 0, "approve": 0, "return": 0}
    # the links answer with the report's HTML and a BCF zip
    assert upload["files"]["report.html"]["status"] == 200
    assert upload["files"]["report.html"]["type"].startswith("text/html")
    bcf = upload["files"]["report.bcf"]
    assert (bcf["status"], bcf["type"]) == (200, "application/zip") and bcf["bytes"] > 100
    # both walls were marked; the click on the second wall's issue shows it alone, in red, the camera on it
    assert set(upload["marked"]) >= walls
    isolated = upload["isolated"]
    assert isolated["shown"] == [two_walls["walls"][1]]
    assert isolated["selected"] == two_walls["walls"][1]
    assert isolated["colour"].lower() == colour["error"].lower()
    assert isolated["camera_distance_m"] < 150
    assert isolated["off_centre"] is not None and max(abs(v) for v in isolated["off_centre"]) < 0.1


def test_a_reviewer_sees_the_decision_buttons_and_their_clicks_change_the_review(walk, database, two_walls):
    reviewer = step(walk, "reviewer")
    review_id = step(walk, "upload")["review_id"]
    before = reviewer["before"]
    issues = sum(r["count"] for g in before["groups"] for r in g["rules"])
    assert before["buttons"] == {"resolve": issues, "comment": issues, "approve": 1, "return": 1}
    assert before["state"] == "审查中"
    with database.connect() as conn:
        status, decision = conn.execute(
            text("SELECT status, report -> 'decision' FROM drawing_review WHERE id = :r"), {"r": review_id}
        ).one()
        resolved, comment = conn.execute(
            text("SELECT resolved, comment FROM review_issue WHERE review_id = :r AND global_id = :g"),
            {"r": review_id, "g": two_walls["walls"][1]},
        ).one()
    assert (resolved, comment) == (True, NOTE)
    assert reviewer["resolved"]["buttons"]["resolve"] == issues - 1
    assert status == "returned" and decision["action"] == "return" and decision["comment"] == OPINION
    assert decision["by"] == REVIEWER[0]
    assert reviewer["after"]["state"] == "退回修改"
    assert reviewer["after"]["buttons"] == {"resolve": 0, "comment": 0, "approve": 0, "return": 0}

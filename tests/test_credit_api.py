"""The credit API and CLI: roles, the ruleset lifecycle and the two-person rule over HTTP with an
audit row per step, profiles, alerts, the month's plan, statistics and the risk grid."""

from __future__ import annotations

import copy
import json
import math
import time
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from core.db import session_scope
from core.users import upsert_user
from tests.fixtures_credit import add_enterprise, new_uscc

API = "/api/v1/credit"


@pytest.fixture(scope="module")
def credit_headers(client, credit_active) -> dict[str, dict[str, str]]:
    """Two people with the credit role, and a planner (read only)."""
    users = {"credit1": "credit", "credit2": "credit", "planner1": "planner"}
    with session_scope() as session:
        for name, role in users.items():
            upsert_user(session, name, f"{name}-pw", role)
    headers = {}
    for name in users:
        response = client.post("/api/v1/auth/token", data={"username": name, "password": f"{name}-pw"})
        assert response.status_code == 200, response.text
        headers[name] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


def _audit(database: Engine, obj: str) -> list[tuple[str, str, str]]:
    with database.connect() as conn:
        rows = conn.execute(
            text("SELECT username, action, result FROM audit_log WHERE object = :o ORDER BY id"), {"o": obj}
        ).all()
    return [tuple(r) for r in rows]


def test_roles(client, credit_headers) -> None:
    assert client.get(f"{API}/alerts").status_code == 401
    assert client.get(f"{API}/alerts", headers=credit_headers["planner1"]).status_code == 200
    response = client.post(f"{API}/runs", json={"scope": "daily"}, headers=credit_headers["planner1"])
    assert response.status_code == 403


def test_ruleset_lifecycle_over_http(client, database: Engine, credit_headers, default_doc) -> None:
    doc = copy.deepcopy(default_doc) | {"version": "api-rules-1"}
    doc["valid_from"] = str(doc["valid_from"])
    one, two = credit_headers["credit1"], credit_headers["credit2"]
    response = client.post(f"{API}/rulesets", json=doc, headers=one)
    assert response.status_code == 201 and response.json()["status"] == "draft"
    refused = client.post(f"{API}/rulesets/api-rules-1/activate", headers=one)
    assert refused.status_code == 400 and "only an approved ruleset" in refused.json()["detail"]
    assert client.post(f"{API}/rulesets/api-rules-1/check", headers=one).json()["status"] == "checked"
    same = client.post(f"{API}/rulesets/api-rules-1/approve", headers=one)
    assert same.status_code == 400 and "cannot also approve" in same.json()["detail"]
    approved = client.post(f"{API}/rulesets/api-rules-1/approve", headers=two).json()
    assert approved["status"] == "approved" and approved["approved_by"] == "credit2"
    bad = copy.deepcopy(doc) | {"version": "api-rules-bad"}
    bad["indicators"][0]["weight"] = 0.5
    client.post(f"{API}/rulesets", json=bad, headers=one)
    check = client.post(f"{API}/rulesets/api-rules-bad/check", headers=one)
    assert check.status_code == 400 and "sum to 1.42" in check.json()["detail"]
    exported = client.get(f"{API}/rulesets/api-rules-1", headers=one).json()
    assert [i["weight"] for i in exported["indicators"]] == [i["weight"] for i in doc["indicators"]]
    assert _audit(database, "ruleset:api-rules-1") == [
        ("credit1", "credit.ruleset.load", "ok"),
        ("credit1", "credit.ruleset.activate", "refused"),
        ("credit1", "credit.ruleset.check", "ok"),
        ("credit1", "credit.ruleset.approve", "refused"),
        ("credit2", "credit.ruleset.approve", "ok"),
    ]


def test_two_person_manual_review(client, database: Engine, credit_headers) -> None:
    uscc = new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, uscc, grade="C")
    one, two = credit_headers["credit1"], credit_headers["credit2"]
    body = {"enterprise": uscc, "grade": "B", "reason": "处罚已撤销，经复核信用情况良好"}
    proposed = client.post(f"{API}/reviews", json=body, headers=one)
    assert proposed.status_code == 201, proposed.text
    review = proposed.json()
    assert review["engine_grade"] == "C" and review["status"] == "proposed"
    own = client.post(f"{API}/reviews/{review['id']}/decision", json={"action": "approve"}, headers=one)
    assert own.status_code == 403 and "cannot decide" in own.json()["detail"]
    decided = client.post(
        f"{API}/reviews/{review['id']}/decision", json={"action": "approve", "note": "同意"}, headers=two
    )
    assert decided.status_code == 200 and decided.json()["decided_by"] == "credit2"
    profile = client.get(f"{API}/scores/{uscc}", headers=credit_headers["planner1"]).json()
    assert profile["grade"] == "B"
    assert profile["reviews"][0]["proposed_by"] == "credit1" and profile["reviews"][0]["decided_by"] == "credit2"
    assert profile["reviews"][0]["reason"] == body["reason"]
    assert profile["history"][-1]["rules_version"] == "manual" and profile["history"][-1]["grade"] == "B"
    assert _audit(database, f"enterprise:{uscc}") == [("credit1", "credit.review.propose", "ok")]
    assert _audit(database, f"credit_review:{review['id']}") == [
        ("credit1", "credit.review.approve", "refused"),
        ("credit2", "credit.review.approve", "ok"),
    ]


def test_daily_run_as_a_job_and_scores_profile(client, database: Engine, credit_headers) -> None:
    uscc = new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, uscc, grade="D")  # D: in the daily set
    response = client.post(f"{API}/runs", json={"scope": "daily"}, headers=credit_headers["credit1"])
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    deadline = time.monotonic() + 60
    while (job := client.get(f"/api/v1/jobs/{job_id}", headers=credit_headers["credit1"]).json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "succeeded", job
    profile = client.get(f"{API}/scores/{uscc}", headers=credit_headers["credit1"]).json()
    assert profile["latest"]["grade"] == "A" and profile["grade"] == "A"  # no records: the clean score
    assert profile["latest"]["previous_grade"] == "D"
    runs = client.get(f"{API}/runs", headers=credit_headers["credit1"]).json()
    assert [r["scope"] for r in runs if r["id"] == profile["latest"]["run_id"]] == ["daily"]


def test_alert_list_and_steps(client, database: Engine, credit_headers) -> None:
    uscc = new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, uscc, grade="B")
        conn.execute(
            text(
                "INSERT INTO credit_alert (kind, level, cause_key, enterprise_uscc, message, evidence, count, status,"
                " reminders, history) VALUES ('new_penalty', 'orange', :k, :u, '新增行政处罚', '{}', 1, 'generated', 0,"
                " '[]')"
            ),
            {"k": f"new_penalty:{uscc}", "u": uscc},
        )
    one = credit_headers["credit1"]
    [alert] = client.get(f"{API}/alerts", params={"enterprise": uscc}, headers=one).json()
    assert alert["kind_name"] == "新增行政处罚" and alert["kind_name_en"] == "New penalty"
    wrong = client.post(f"{API}/alerts/{alert['id']}/close", headers=one)
    assert wrong.status_code == 400 and "needs it feedback" in wrong.json()["detail"]
    client.post(f"{API}/alerts/{alert['id']}/review", headers=one)
    step = client.post(f"{API}/alerts/{alert['id']}/dispatch", json={"assignee": "执法支队"}, headers=one).json()
    assert step["status"] == "dispatched" and step["due_on"] is not None
    assert client.get(f"{API}/alerts", params={"status": "dispatched", "enterprise": uscc}, headers=one).json()


@pytest.fixture(scope="module")
def graded(database: Engine, credit_active) -> dict[str, str]:
    """One enterprise of each grade with a location, and an active site for the D one."""
    codes = {grade: new_uscc() for grade in "ABCD"}
    with database.begin() as conn:
        for n, (grade, uscc) in enumerate(codes.items()):
            add_enterprise(conn, uscc, grade=grade, x=530_000 + 90 * n, y=3_530_000)
            conn.execute(text("UPDATE enterprise SET credit_score = :s WHERE uscc = :u"), {"s": 95 - 12 * n, "u": uscc})
        conn.execute(
            text(
                "INSERT INTO project (code, name, type, stage, contractor_uscc, hazardous_works, progress_pct)"
                " VALUES (:c, '计划测试工地', 'building', 'construction', :u, false, 5)"
            ),
            {"c": f"PLAN-{codes['D'][-8:]}", "u": codes["D"]},
        )
    return codes


def test_month_plan_follows_the_measures(client, credit_headers, graded, default_doc) -> None:
    measures = default_doc["settings"]["measures"]
    routine = Counter()
    for month in range(1, 13):
        items = client.get(f"{API}/plans", params={"month": f"2027-{month:02d}"}, headers=credit_headers["credit1"])
        assert items.status_code == 200
        for item in items.json():
            if item["uscc"] in graded.values() and item["routine"]:
                routine[item["grade"]] += 1
            if item["uscc"] == graded["D"]:
                assert item["sites"] == [f"PLAN-{graded['D'][-8:]}"] and item["measure"]["rectify_order"]
    assert routine == Counter({g: m["inspections_per_year"] for g, m in measures.items()})
    bad = client.get(f"{API}/plans", params={"month": "2027-13"}, headers=credit_headers["credit1"])
    assert bad.status_code == 400 and "2026-07" in bad.json()["detail"]


def test_statistics_and_risk_grid(client, database: Engine, credit_headers, graded) -> None:
    with database.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT type, coalesce(district, '') AS d, credit_grade, location IS NOT NULL AS located"
                " FROM enterprise"
            )
        ).all()
    expected = Counter((t, d, g) for t, d, g, _ in rows if g is not None)
    got = client.get(f"{API}/stats", headers=credit_headers["planner1"]).json()
    assert Counter({(r["type"], r["district"], r["grade"]): r["enterprises"] for r in got["distribution"]}) == expected
    scores = [r["score"] for r in got["ranking"]]
    assert scores == sorted(scores)
    grid = client.get(f"{API}/stats/hexagons", params={"size": 2000}, headers=credit_headers["planner1"]).json()
    assert sum(f["properties"]["enterprises"] for f in grid["features"]) == sum(1 for *_, g, loc in rows if g and loc)
    lon, lat = 120.32, 31.89  # near the graded enterprises (530000, 3530000 in EPSG:4549)
    z = 10
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    tile = client.get(f"{API}/stats/hexagons/{z}/{x}/{y}.pbf", params={"size": 500}, headers=credit_headers["planner1"])
    assert tile.status_code == 200 and b"credit_risk" in tile.content


def test_cli_export_score_and_plan(database: Engine, credit_active, graded) -> None:
    from credit.cli import app

    runner = CliRunner()
    active = runner.invoke(app, ["ruleset", "list", "--json"])
    version = next(v for v, status in json.loads(active.stdout).items() if status == "active")
    exported = runner.invoke(app, ["ruleset", "export", version, "--format", "json"])
    assert exported.exit_code == 0 and json.loads(exported.stdout)["version"] == version
    scored = runner.invoke(app, ["score", "--enterprise", graded["C"], "--as-of", date.today().isoformat(), "--json"])
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["runs"][0]["grades"] == {"A": 1}
    both = runner.invoke(app, ["score", "--all", "--daily"])
    assert both.exit_code != 0 and "exactly one" in str(both.exception)

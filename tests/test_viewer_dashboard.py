"""The command centre's dashboard (viewer/dashboard.html, GET /api/v1/dashboard/summary): each chart's
numbers, read from its ECharts instance in Debian's Chromium, equal counts made here in SQL, under
the vocabularies' Chinese labels; the public sees the alarms and a login prompt; a gas leak posted
and an alarm raised through the API (water in the tunnel) show in the open page within seconds (the
live stream), with no reload."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.fixtures_viewer import E2E

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT / "core" / "vocab"
SUMMARY = "/api/v1/dashboard/summary"
# The page's chart per figure and the vocabulary file its codes are labelled from.
FIGURES = {
    "projects_by_stage": ("SELECT stage AS code, count(*) AS n FROM project GROUP BY 1", "stages"),
    "enterprises_by_grade": ("SELECT credit_grade AS code, count(*) AS n FROM enterprise GROUP BY 1", "grades_credit"),
    "credit_alerts_open": (
        "SELECT level AS code, count(*) AS n FROM credit_alert WHERE status <> 'closed' GROUP BY 1",
        "credit_alert_levels",
    ),
    "alarms_open": (
        "SELECT level AS code, count(*) AS n FROM alarm WHERE status <> 'closed' GROUP BY 1",
        "alarm_levels",
    ),
}
EVENT_KINDS = {  # live/scenarios.py's registry, as the bureau names them
    "gas_leak": {"zh": "燃气泄漏", "en": "Gas leak"},
    "pipe_burst": {"zh": "供水爆管", "en": "Water main burst"},
    "fire": {"zh": "火灾", "en": "Fire"},
    "flood": {"zh": "内涝", "en": "Flood"},
    "earthquake": {"zh": "地震", "en": "Earthquake"},
    "building_safety": {"zh": "房屋安全", "en": "Building safety"},
}


def _vocab(name: str) -> dict:
    return json.loads((VOCAB / f"{name}.json").read_text(encoding="utf-8"))


def _expected(rows, lang: str = "zh") -> dict[str, dict]:
    """Every figure counted in SQL, keyed by the labels (Chinese, or English) the page must show."""
    out: dict[str, dict] = {}
    for figure, (sql, vocabulary) in FIGURES.items():
        words = _vocab(vocabulary)
        counts = {r["code"]: r["n"] for r in rows(sql)}
        shown = {e["label"][lang]: counts.pop(e["code"], 0) for e in words["entries"]}
        if counts:
            shown[words["other"]["label"][lang]] = sum(counts.values())
        out[figure] = shown
    states = _vocab("event_statuses")["entries"]
    counts = {
        (r["type"], r["status"]): r["n"]
        for r in rows("SELECT type, status, count(*) AS n FROM emergency_event GROUP BY 1, 2")
    }
    out["events"] = {
        s["label"][lang]: {label[lang]: counts.get((kind, s["code"]), 0) for kind, label in EVENT_KINDS.items()}
        for s in states
    }
    return out


@pytest.fixture
def water_sensor(rows, client, role_headers, database):
    """A tunnel water-level sensor standing normal, with no reading in the last minute; its alarm
    closed and its rule state normal again after."""
    found = rows(
        """SELECT s.id FROM sensor s LEFT JOIN sensor_state st ON st.sensor_id = s.id
            WHERE s.kind = 'water_level' AND coalesce(st.level, 0) = 0 AND coalesce(st.pending_level, 0) = 0
              AND coalesce(st.last_time, '-infinity') < now() - interval '1 minute'
              AND NOT EXISTS (SELECT 1 FROM alarm a WHERE a.sensor_id = s.id AND a.status <> 'closed')
            ORDER BY s.id DESC LIMIT 1"""
    )
    assert found, "the sample city has water-level sensors in its tunnel"
    sensor = found[0]["id"]
    yield sensor
    for alarm in rows("SELECT id FROM alarm WHERE sensor_id = :s AND status <> 'closed'", s=sensor):
        client.post(f"/api/v1/alarms/{alarm['id']}/steps", json={"status": "closed"}, headers=role_headers["emergency"])
    with database.begin() as conn:
        conn.execute(text("UPDATE sensor_state SET level = 0, clear_since = NULL WHERE sensor_id = :s"), {"s": sensor})


def test_summary_gives_each_role_what_it_may_see(client, role_headers, rows):
    expected = _expected(rows)
    seen = {}
    for role in ("public", "planner", "emergency", "admin"):
        answer = client.get(SUMMARY, headers=role_headers[role])
        assert answer.status_code == 200, answer.text
        body = answer.json()
        seen[role] = {
            k for k in ("projects_by_stage", "enterprises_by_grade", "credit_alerts_open", "events") if body[k]
        }
        assert {w["figure"] for w in body["withheld"]} | seen[role] == {
            "projects_by_stage",
            "enterprises_by_grade",
            "credit_alerts_open",
            "events",
        }
        assert {b["label"]["zh"]: b["count"] for b in body["alarms_open"]["buckets"]} == expected["alarms_open"]
    assert seen["public"] == set()
    assert seen["planner"] == {"projects_by_stage", "enterprises_by_grade", "credit_alerts_open"}
    assert seen["emergency"] == {"projects_by_stage", "events"}
    assert seen["admin"] == {"projects_by_stage", "enterprises_by_grade", "credit_alerts_open", "events"}
    public = client.get(SUMMARY).json()
    credit = next(w for w in public["withheld"] if w["figure"] == "enterprises_by_grade")
    assert [r["label"]["zh"] for r in credit["roles"]] == ["信用监管", "规划人员", "系统管理员"]
    admin = client.get(SUMMARY, headers=role_headers["admin"]).json()
    for figure in FIGURES:
        assert {b["label"]["zh"]: b["count"] for b in admin[figure]["buckets"]} == expected[figure], figure
    bad = client.get(SUMMARY, params={"division": "42x"}, headers=role_headers["admin"])
    assert bad.status_code in (400, 422) and "division" in bad.json()["detail"]


@pytest.fixture
def made_up_county(database):
    """Three projects and two enterprises coded into a county of their own (329901), put back after."""
    county = "329901"
    with database.begin() as conn:
        projects = conn.execute(text("SELECT code, division_code FROM project ORDER BY code DESC LIMIT 3")).all()
        enterprises = conn.execute(
            text("SELECT uscc, division_code FROM enterprise WHERE credit_grade IS NOT NULL ORDER BY uscc DESC LIMIT 2")
        ).all()
        conn.execute(
            text("UPDATE project SET division_code = :d WHERE code = ANY(:k)"),
            {"d": f"{county}001000", "k": [p.code for p in projects]},
        )
        conn.execute(
            text("UPDATE enterprise SET division_code = :d WHERE uscc = ANY(:k)"),
            {"d": f"{county}001001", "k": [e.uscc for e in enterprises]},
        )
    yield county
    with database.begin() as conn:
        for p in projects:
            conn.execute(
                text("UPDATE project SET division_code = :d WHERE code = :k"), {"d": p.division_code, "k": p.code}
            )
        for e in enterprises:
            conn.execute(
                text("UPDATE enterprise SET division_code = :d WHERE uscc = :k"), {"d": e.division_code, "k": e.uscc}
            )


def test_division_keeps_the_figures_to_its_rows(client, role_headers, rows, made_up_county):
    body = client.get(SUMMARY, params={"division": made_up_county}, headers=role_headers["admin"]).json()
    assert body["division"] == made_up_county
    for figure, table, column in (
        ("projects_by_stage", "project", "stage"),
        ("enterprises_by_grade", "enterprise", "credit_grade"),
    ):
        counted = rows(
            f"SELECT {column} AS code, count(*) AS n FROM {table} WHERE division_code LIKE :p GROUP BY 1",
            p=f"{made_up_county}%",
        )
        shown = {b["code"]: b["count"] for b in body[figure]["buckets"] if b["count"]}
        assert shown == {r["code"]: r["n"] for r in counted} and sum(shown.values()) == {"project": 3}.get(table, 2)
    township = client.get(SUMMARY, params={"division": f"{made_up_county}002"}, headers=role_headers["admin"]).json()
    assert township["projects_by_stage"]["total"] == 0 and township["enterprises_by_grade"]["total"] == 0


def test_dashboard_page_matches_sql_and_follows_the_live_stream(
    e2e_tools, live_server, client, role_headers, rows, database, artifacts, water_sensor
):
    gas = rows(
        """SELECT ST_X(p) AS lon, ST_Y(p) AS lat
             FROM (SELECT ST_Transform(ST_LineInterpolatePoint(ST_Force2D(ST_GeometryN(geom, 1)), 0.5), 4326) AS p
                     FROM pipeline WHERE utility = 'gas' ORDER BY id LIMIT 1) g"""
    )[0]
    spec = {
        "url": f"{live_server.rstrip('/')}/dashboard.html",
        "artifacts": str(artifacts),
        "login": ["admin", "admin-demo"],
        "kind": EVENT_KINDS["gas_leak"]["zh"],
    }
    browser = subprocess.Popen(
        ["node", str(E2E / "dashboard.mjs"), json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    event_id = None
    try:
        first = browser.stdout.readline()
        assert first.startswith("READY "), first + browser.stderr.read()[-2000:] + browser.stdout.read()[-3000:]
        assert json.loads(first.removeprefix("READY ")) == _expected(rows)
        body = {"type": "gas_leak", "location": {"type": "Point", "coordinates": [gas["lon"], gas["lat"]]}}
        event_posted = time.time()
        answer = client.post("/api/v1/events", json=body, headers=role_headers["emergency"])
        assert answer.status_code == 201, answer.text
        event_id = answer.json()["id"]
        now = datetime.now(UTC)  # 0.5 m of water for 31 s: over the 0.3 m alarm level for its 30 s
        flood = [
            {"sensor_id": water_sensor, "time": (now - timedelta(seconds=s)).isoformat(), "value": 0.5} for s in (31, 0)
        ]
        alarm_raised = time.time()
        raised = client.post("/api/v1/sensors/readings", json={"readings": flood}, headers=role_headers["engineer"])
        assert raised.status_code == 200 and len(raised.json()["alarms"]) == 1, raised.text
        out, err = browser.communicate(timeout=60)
    finally:
        if browser.poll() is None:
            browser.kill()
    result = json.loads(out.strip().splitlines()[-1])
    try:
        assert "error" not in result, (result, err[-2000:])
        assert result["outside"] == [] and result["console_errors"] == [] and result["failed"] == []
        public = result["public"]
        assert set(public["figures"]) == {"alarms_open"} and public["login_shown"]
        assert public["withheld"]["events"] == "可查看的角色：应急指挥、工程人员、系统管理员"
        assert public["withheld"]["projects_by_stage"] == "登录后可见"
        assert result["withheld_after_login"] == 0
        assert result["headings"] == ["未关闭报警", "应急事件", "未办结信用预警", "工程项目（按阶段）", "企业信用等级"]
        expected = _expected(rows)
        assert result["after"] == expected
        assert result["english"]["figures"] == _expected(rows, "en")
        assert result["english"]["headings"] == [
            "Open alarms",
            "Emergency events",
            "Open credit alerts",
            "Projects by stage",
            "Enterprises by credit grade",
        ]
        assert result["event_seen_ms"] / 1000 - event_posted < 5.0
        assert result["alarm_seen_ms"] / 1000 - alarm_raised < 5.0
    finally:
        if event_id is not None:
            with database.begin() as conn:
                conn.execute(text("DELETE FROM emergency_event WHERE id = :e"), {"e": event_id})

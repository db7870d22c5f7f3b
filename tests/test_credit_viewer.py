"""The credit section of the viewer in a real browser (Debian's Chromium through playwright-core)
against `cim serve` on the sample city: the alert list follows its filters (compared with the
database), opening an alert flies to its site and highlights it (what is drawn at the middle of the
screen is the site), the enterprise's grade-history chart has one point per history row of the API,
the workflow button takes the alert's next step, and the heat map draws the API's cells."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from core import vocab
from core.db import session_scope
from core.users import upsert_user
from tests.fixtures_credit import add_enterprise, new_uscc

ROOT = Path(__file__).resolve().parent.parent
TODAY = date.today()
SERIOUS = 12  # points of a serious bad record that never expires
DISTRICT = "信用测试区"


@pytest.fixture(scope="module")
def risky_site(database: Engine, sample_city, credit_active, insert_history) -> dict:
    """A builder scored three times as its records accumulate (A, then lower, then D), its active site
    20 m from one of the sample city's gas mains, the alerts that raises, and a district boundary
    around it."""
    from credit import alerts, engine, service, stats

    uscc = new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, uscc, grade=None)
        conn.execute(text("UPDATE enterprise SET district = :d WHERE uscc = :u"), {"d": DISTRICT, "u": uscc})
        gas, x, y = conn.execute(
            text(
                "SELECT id, ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)) FROM pipeline"
                " WHERE utility = 'gas' AND ST_NPoints(geom) >= 2 ORDER BY id LIMIT 1"
            )
        ).one()
        conn.execute(
            text("UPDATE enterprise SET location = ST_SetSRID(ST_MakePoint(:x, :y), 4549) WHERE uscc = :u"),
            {"x": x - 80, "y": y - 80, "u": uscc},
        )
        site = f"CV-{uscc[-8:]}"
        conn.execute(
            text(
                "INSERT INTO project (code, name, type, stage, contractor_uscc, hazardous_works, progress_pct,"
                " footprint) VALUES (:c, '信用测试工地', 'building', 'construction', :u, false, 30,"
                " ST_MakeEnvelope(:x + 20, :y + 20, :x + 60, :y + 60, 4549))"
            ),
            {"c": site, "u": uscc, "x": x, "y": y},
        )
    early, late = TODAY - timedelta(days=90), TODAY - timedelta(days=30)
    insert_history(
        uscc, {"bad": [(early, None, SERIOUS), (late, None, SERIOUS)], "penalties": [early, late]}, quiet=True
    )
    for as_of in (TODAY - timedelta(days=120), TODAY - timedelta(days=60), TODAY):
        with session_scope() as session:
            engine.score(session, enterprises=[uscc], as_of=as_of, scope="enterprise")
    with session_scope() as session:
        alerts.scan(session, service.settings_in_force(session), TODAY)
        ring = [[x - 500, y - 500], [x + 500, y - 500], [x + 500, y + 500], [x - 500, y + 500], [x - 500, y - 500]]
        feature = {
            "type": "Feature",
            "properties": {"code": "320499009999", "name": DISTRICT},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        stats.load_districts(session, {"type": "FeatureCollection", "features": [feature]}, srid=4549)
    with database.connect() as conn:
        alert = conn.execute(
            text("SELECT id FROM credit_alert WHERE kind = 'site_risk' AND enterprise_uscc = :u"), {"u": uscc}
        ).scalar_one()
    with session_scope() as session:
        upsert_user(session, "creditviewer", "creditviewer-pw", "credit")
    yield {"uscc": uscc, "site": site, "gas": gas, "alert": alert}
    with database.begin() as conn:
        conn.execute(text("DELETE FROM district WHERE code = '320499009999'"))


def _expected_ids(database: Engine, filters: dict) -> list[int]:
    """The alerts a filter set selects, newest first, by independent SQL."""
    where, params = ["true"], {}
    for key, column in (("kind", "a.kind"), ("level", "a.level"), ("state", "a.status"), ("district", "e.district")):
        if filters.get(key):
            where.append(f"{column} = :{key}")
            params[key] = filters[key]
    with database.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT a.id FROM credit_alert a LEFT JOIN enterprise e ON e.uscc = a.enterprise_uscc"
                    f" WHERE {' AND '.join(where)} ORDER BY a.updated_at DESC, a.id DESC LIMIT 200"
                ),
                params,
            )
        ]


def test_alerts_filters_flight_chart_workflow_and_heat_map(
    run_e2e, city_server, client, database: Engine, risky_site
) -> None:
    filters = [
        {"kind": "site_risk"},
        {"level": "red"},
        {"state": "generated", "district": DISTRICT},
        {"kind": "grade_dropped", "district": DISTRICT},
        {"kind": "repair_failed", "level": "blue"},
    ]
    expected = [_expected_ids(database, f) for f in filters]
    assert any(expected) and [] in expected  # the cases select something and nothing
    result = run_e2e(
        city_server,
        script="credit.mjs",
        login=["creditviewer", "creditviewer-pw"],
        filters=filters,
        alert=risky_site["alert"],
    )
    assert "error" not in result, (result["error"], result["filtered"], result["bad_responses"])
    assert result["outside"] == [] and result["credit_requests_before_open"] == []
    # Without published BIM models the bim_elements tileset is a 404 (as on any city without them).
    bad = [r for r in result["bad_responses"] if "/tiles/bim_elements/" not in r]
    assert bad == [] and len(result["console_errors"]) == len(result["bad_responses"]), result

    # Filters: the list equals the database's answer for each filter set; labels are the vocabulary's.
    for case, want in zip(result["filtered"], expected, strict=True):
        assert case["listed"] == want and case["shown"] == want, case
    kinds = dict(result["kind_options"])
    assert kinds["site_risk"] == "高风险企业在敏感工地" and kinds["grade_dropped"] == "信用等级下降"
    assert DISTRICT in result["district_options"]
    in_english = dict(result["kind_options_en"])
    assert in_english["site_risk"] == "C/D contractor on a sensitive site" and in_english[""] == "All"
    assert result["heat_after_language"] == "district"
    assert "高风险企业在敏感工地" in result["item_text"] and "site_risk" not in result["item_text"]

    # The flight ends above the site's centre, and the site is what the middle of the screen shows.
    with database.connect() as conn:
        xmin, ymin, xmax, ymax = conn.execute(
            text(
                "SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g)"
                " FROM (SELECT ST_Transform(footprint, 4326) g FROM project WHERE code = :c) s"
            ),
            {"c": risky_site["site"]},
        ).one()
    flown = result["flown"]
    assert flown["ref"] == f"project:{risky_site['site']}"
    assert flown["lon"] == pytest.approx((xmin + xmax) / 2, abs=1e-6)
    assert flown["lat"] == pytest.approx((ymin + ymax) / 2, abs=1e-6)
    with database.connect() as conn:
        evidence = conn.execute(
            text("SELECT evidence FROM credit_alert WHERE id = :a"), {"a": risky_site["alert"]}
        ).scalar_one()
    assert f"pipeline:{risky_site['gas']}" in evidence["features"]
    expected_refs = {f"enterprise:{risky_site['uscc']}", *evidence["records"], *evidence["features"]}
    assert set(result["highlighted"]) == expected_refs
    assert f"credit:project:{risky_site['site']}" in result["picked_at_centre"], result["picked_at_centre"]

    # The card: the API's grade and score, the explanation's rows, one chart point per history row.
    login = {"username": "creditviewer", "password": "creditviewer-pw"}
    token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    profile = client.get(f"/api/v1/credit/scores/{risky_site['uscc']}", headers=headers).json()
    with database.connect() as conn:
        rows = (
            conn.execute(
                text("SELECT grade FROM credit_grade_history WHERE enterprise_uscc = :u ORDER BY graded_on"),
                {"u": risky_site["uscc"]},
            )
            .scalars()
            .all()
        )
    assert len(rows) >= 2 and rows[0] == "A" and rows[-1] in ("C", "D")  # A, then lower as records came
    assert (
        result["chart"] == {"uscc": risky_site["uscc"], "points": len(profile["history"])}
        and result["chart_canvases"] >= 1
    )
    assert len(profile["history"]) == len(rows)
    assert result["grade_text"] == vocab.get("grades_credit").term(profile["grade"]).label.zh
    assert float(result["score_text"]) == profile["score"]
    assert result["explanation_rows"] == len(profile["latest"]["explanation"]) > 0

    # The workflow step the button took is in the database, by the logged-in user.
    assert result["step_button"] == "研判" and result["steps"] == [[risky_site["alert"], "reviewed"]]
    assert result["state_text"] == "已研判"
    with database.connect() as conn:
        status, history = conn.execute(
            text("SELECT status, history FROM credit_alert WHERE id = :a"), {"a": risky_site["alert"]}
        ).one()
    assert status == "reviewed" and history[-1]["by"] == "creditviewer"

    # The heat maps draw the API's cells, with a four-entry legend.
    hexagons = client.get("/api/v1/credit/stats/hexagons", headers=headers).json()
    districts = client.get("/api/v1/credit/stats/districts/map", headers=headers).json()
    assert result["heat_hexagon"]["cells"] == len(hexagons["features"]) > 0
    assert result["heat_district"]["cells"] == len(districts["features"]) >= 1
    assert len(result["legend_hexagon"]) == 4 and "D 严重失信" in result["legend_hexagon"][3]

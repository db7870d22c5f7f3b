"""Event-triggered re-scoring through the queue, and the spatial alerts on a test layout beside a
control layout a few hundred metres away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, text

from core.db import session_scope
from core.errors import UserError
from credit import alerts, service
from tests.fixtures_credit import add_enterprise, expected_grade, new_uscc

X, Y = 520_000.0, 3_540_000.0  # far from the sample city (centred on 497000, 3520000)


def wait_for_rescore(database: Engine, uscc: str, jobs: int, timeout: float = 30.0) -> None:
    """Poll until ``jobs`` re-score jobs for the enterprise have finished; fail on a failed one."""
    deadline = time.monotonic() + timeout
    while True:
        with database.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT status, error FROM job WHERE kind = 'credit.rescore'"
                    " AND params -> 'events' @> jsonb_build_array(jsonb_build_array(CAST(:u AS text)))"
                ),
                {"u": uscc},
            ).all()
        assert not [r for r in rows if r.status == "failed"], rows
        if len(rows) >= jobs and all(r.status == "succeeded" for r in rows):
            return
        assert time.monotonic() < deadline, f"re-score jobs for {uscc} not done: {rows}"
        time.sleep(0.05)


def _alerts(database: Engine, **where) -> list[dict]:
    clause = " AND ".join(f"{k} = :{k}" for k in where)
    with database.connect() as conn:
        return [dict(r) for r in conn.execute(text(f"SELECT * FROM credit_alert WHERE {clause}"), where).mappings()]


def test_penalty_rescores_within_seconds_and_raises_one_merged_drop_alert(
    client, database: Engine, credit_active, insert_history, default_doc
) -> None:
    today = date.today()
    uscc = new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, uscc)
    history = {"bad": [(today - timedelta(days=30), None, 16)]}
    insert_history(uscc, history)  # a bad record is an event too: the first score
    wait_for_rescore(database, uscc, 1)
    steps = [
        {"penalties": [today - timedelta(days=1)]},
        {"penalties": [today], "bad": [(today, None, 16)]},
    ]
    grades = [expected_grade(history, default_doc, today)[2]]
    jobs = 1
    for step in steps:
        for key, rows in step.items():
            history[key] = history.get(key, []) + rows
        started = time.monotonic()
        insert_history(uscc, step)
        jobs += 2 if "bad" in step else 1  # one job per writing statement's table
        wait_for_rescore(database, uscc, jobs)
        assert time.monotonic() - started < 10
        grades.append(expected_grade(history, default_doc, today)[2])
        with database.connect() as conn:
            assert (
                conn.execute(text("SELECT credit_grade FROM enterprise WHERE uscc = :u"), {"u": uscc}).scalar()
                == (grades[-1])
            )
    assert grades == ["B", "C", "D"]  # the test's design: each penalty drops a grade
    [drop] = _alerts(database, kind="grade_dropped", enterprise_uscc=uscc)
    assert drop["count"] == 2 and drop["evidence"]["grades"] == ["C", "D"] and drop["level"] == "red"
    assert any(r.startswith("penalty:") for r in drop["evidence"]["records"])
    [penalty] = _alerts(database, kind="new_penalty", enterprise_uscc=uscc)
    assert penalty["count"] == 2 and len(penalty["evidence"]["records"]) == 2


def test_failed_inspection_and_verified_complaint_rescore(client, database: Engine, credit_active) -> None:
    """Any writer's failed inspection re-scores and raises its alert; a complaint re-scores its site's
    contractor only when it turns verified."""
    uscc = new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, uscc, grade="A")
        conn.execute(
            text(
                "INSERT INTO project (code, name, type, stage, contractor_uscc, hazardous_works, progress_pct)"
                " VALUES (:c, '投诉工地', 'building', 'construction', :u, false, 10)"
            ),
            {"c": f"CMP-{uscc[-8:]}", "u": uscc},
        )
        conn.execute(
            text(
                "INSERT INTO inspection (inspection_no, enterprise_uscc, project_code, inspected_on, kind, result)"
                " VALUES (:no, :u, :p, now(), 'routine', 'fail')"
            ),
            {"no": f"JC-{uscc}", "u": uscc, "p": f"CMP-{uscc[-8:]}"},
        )
    wait_for_rescore(database, uscc, 1)
    [alert] = _alerts(database, kind="failed_inspection", enterprise_uscc=uscc)
    assert alert["evidence"]["records"] == [f"inspection:JC-{uscc}"]
    with database.begin() as conn:
        complaint = conn.execute(
            text(
                "INSERT INTO complaint (channel, type, target_kind, target_id, received_at, status)"
                " VALUES ('12345', '施工扰民', 'project', :p, now(), 'received') RETURNING id"
            ),
            {"p": f"CMP-{uscc[-8:]}"},
        ).scalar_one()
    with database.connect() as conn:
        requests = (
            conn.execute(
                text("SELECT cause FROM credit_rescore_request WHERE enterprise_uscc = :u ORDER BY id"), {"u": uscc}
            )
            .scalars()
            .all()
        )
    assert requests == ["inspection_fail"]  # an unverified complaint asks for nothing
    with database.begin() as conn:
        conn.execute(
            text("UPDATE complaint SET status = 'closed', result = '已核实并督促整改' WHERE id = :i"), {"i": complaint}
        )
    wait_for_rescore(database, uscc, 2)
    with database.connect() as conn:
        latest = conn.execute(
            text(
                "SELECT indicators -> 'verified_complaints' ->> 'value' FROM credit_score WHERE enterprise_uscc = :u"
                " ORDER BY run_id DESC LIMIT 1"
            ),
            {"u": uscc},
        ).scalar_one()
    assert float(latest) == 10.0  # one verified complaint, one active project: 1 × 10 / 1


def test_rectify_orders_and_corrected_results_rescore(database: Engine, credit_active) -> None:
    """A passed inspection that orders rectification re-scores (and counts as an order); a pass
    corrected to a fail re-scores; an edit that changes neither asks for nothing."""
    uscc = new_uscc()
    numbers = [f"JC-{uscc}-{n}" for n in range(3)]
    with database.begin() as conn:
        add_enterprise(conn, uscc, grade="A")
        conn.execute(
            text(
                "INSERT INTO inspection (inspection_no, enterprise_uscc, inspected_on, kind, result, rectify_order)"
                " VALUES (:a, :u, now(), 'special', 'pass', true), (:b, :u, now(), 'routine', 'pass', false),"
                " (:c, :u, now(), 'spot_check', 'pass', false)"
            ),
            {"a": numbers[0], "b": numbers[1], "c": numbers[2], "u": uscc},
        )
    wait_for_rescore(database, uscc, 1)
    with database.begin() as conn:
        conn.execute(text("UPDATE inspection SET result = 'fail' WHERE inspection_no = :n"), {"n": numbers[1]})
        conn.execute(text("UPDATE inspection SET findings = '记录补充' WHERE inspection_no = :n"), {"n": numbers[2]})
    wait_for_rescore(database, uscc, 2)
    with database.connect() as conn:
        requests = conn.execute(
            text("SELECT cause, cause_id FROM credit_rescore_request WHERE enterprise_uscc = :u ORDER BY id"),
            {"u": uscc},
        ).all()
        indicators = conn.execute(
            text("SELECT indicators FROM credit_score WHERE enterprise_uscc = :u ORDER BY run_id DESC LIMIT 1"),
            {"u": uscc},
        ).scalar_one()
    assert [tuple(r) for r in requests] == [("inspection_rectify", numbers[0]), ("inspection_fail", numbers[1])]
    assert float(indicators["rectification_orders"]["value"]) == 1.0
    assert float(indicators["failed_inspections"]["value"]) == pytest.approx(1 / 3, abs=1e-4)  # kept to 4 places


@pytest.fixture(scope="module")
def layout(database: Engine, credit_active) -> Iterator[dict]:
    """A gas main with a D-grade contractor's site 20 m from it and 4 complaints close together;
    the control: the same 400 m north (site and complaints spread 300 m apart), and a B-grade
    contractor beside the main."""
    now = date.today()
    ids = {"risky": new_uscc(), "control": new_uscc(), "good": new_uscc()}
    with database.begin() as conn:
        for key, grade in (("risky", "D"), ("control", "D"), ("good", "B")):
            add_enterprise(conn, ids[key], grade=grade, x=X, y=Y)
        conn.execute(
            text(
                "INSERT INTO pipeline (id, utility, depth_ref, status, geom) VALUES ('test-gas-main', 'gas', 'top',"
                " 'in_service', ST_SetSRID(ST_MakeLine(ST_MakePoint(:x, :y, 0), ST_MakePoint(:x + 300, :y, 0)), 4549))"
            ),
            {"x": X, "y": Y},
        )
        sites = {"risky": (X + 50, Y + 20), "control": (X + 50, Y + 400), "good": (X + 200, Y + 10)}
        for key, (x0, y0) in sites.items():
            conn.execute(
                text(
                    "INSERT INTO project (code, name, type, stage, contractor_uscc, hazardous_works, progress_pct,"
                    " footprint) VALUES (:c, '测试工地', 'building', 'construction', :u, false, 30,"
                    " ST_MakeEnvelope(:x, :y, :x + 40, :y + 40, 4549))"
                ),
                {"c": f"SITE-{key}-{ids[key][-6:]}", "u": ids[key], "x": x0, "y": y0},
            )
        complaint_ids = {}
        for key, points in {
            "cluster": [(X + 60, Y + 70), (X + 75, Y + 80), (X + 90, Y + 65), (X + 70, Y + 95)],
            "control": [(X + 60, Y + 500), (X + 360, Y + 500), (X + 660, Y + 500), (X + 960, Y + 500)],
        }.items():
            complaint_ids[key] = [
                conn.execute(
                    text(
                        "INSERT INTO complaint (channel, type, target_kind, target_id, received_at, status, location)"
                        " VALUES ('12345', '施工扰民', 'enterprise', :u, :at, 'received',"
                        " ST_SetSRID(ST_MakePoint(:x, :y), 4549)) RETURNING id"
                    ),
                    {
                        "u": ids["risky" if key == "cluster" else "control"],
                        "at": now - timedelta(days=3),
                        "x": x,
                        "y": y,
                    },
                ).scalar_one()
                for x, y in points
            ]
    with session_scope() as session:
        alerts.scan(session, service.settings_in_force(session), now)
    yield {"ids": ids, "complaints": complaint_ids}
    with database.begin() as conn:  # the tile tests count every pipe in the shared session database
        conn.execute(text("DELETE FROM pipeline WHERE id = 'test-gas-main'"))


def test_d_grade_contractor_near_gas_main_fires_and_control_does_not(database: Engine, layout) -> None:
    ids = layout["ids"]
    [fired] = _alerts(database, kind="site_risk", enterprise_uscc=ids["risky"])
    assert fired["level"] == "red" and fired["evidence"]["features"] == ["pipeline:test-gas-main"]
    assert "燃气管道" in fired["message"]
    assert _alerts(database, kind="site_risk", enterprise_uscc=ids["control"]) == []
    assert _alerts(database, kind="site_risk", enterprise_uscc=ids["good"]) == []


def test_complaint_cluster_fires_and_spread_control_does_not(database: Engine, layout) -> None:
    cluster = [f"complaint:{i}" for i in layout["complaints"]["cluster"]]
    control = {f"complaint:{i}" for i in layout["complaints"]["control"]}
    [fired] = _alerts(database, cause_key=f"complaint_cluster:{min(layout['complaints']['cluster'])}")
    assert sorted(fired["evidence"]["records"]) == sorted(cluster)
    assert fired["enterprise_uscc"] == layout["ids"]["risky"]
    with database.connect() as conn:
        touched = conn.execute(
            text("SELECT count(*) FROM credit_alert WHERE evidence -> 'records' ?| :c"), {"c": sorted(control)}
        ).scalar_one()
    assert touched == 0


def test_a_repeat_scan_merges_instead_of_duplicating(database: Engine, layout) -> None:
    key = f"complaint_cluster:{min(layout['complaints']['cluster'])}"
    with database.begin() as conn:
        extra = conn.execute(
            text(
                "INSERT INTO complaint (channel, type, target_kind, target_id, received_at, status, location)"
                " VALUES ('web', '施工扰民', 'enterprise', :u, now(), 'received',"
                " ST_SetSRID(ST_MakePoint(:x, :y), 4549)) RETURNING id"
            ),
            {"u": layout["ids"]["risky"], "x": X + 80, "y": Y + 75},
        ).scalar_one()
    for _ in range(2):
        with session_scope() as session:
            alerts.scan(session, service.settings_in_force(session), date.today())
    [merged] = _alerts(database, cause_key=key)
    assert merged["count"] == 2 and f"complaint:{extra}" in merged["evidence"]["records"]
    assert len(_alerts(database, kind="site_risk", enterprise_uscc=layout["ids"]["risky"])) == 1


def test_alert_lifecycle_with_overdue_reminder(database: Engine, layout) -> None:
    [alert] = _alerts(database, kind="site_risk", enterprise_uscc=layout["ids"]["risky"])
    today = date.today()
    with session_scope() as session, pytest.raises(UserError, match="needs it feedback"):
        alerts.advance(session, alert["id"], "close", "checker")
    with session_scope() as session:
        alerts.advance(session, alert["id"], "review", "checker")
        alerts.advance(
            session, alert["id"], "dispatch", "checker", assignee="安全监督站", due_on=today - timedelta(days=1)
        )
        assert alerts.remind_overdue(session, today) >= 1
        assert alerts.remind_overdue(session, today) == 0  # once a day
    with session_scope() as session, pytest.raises(UserError, match="needs a note"):
        alerts.advance(session, alert["id"], "feedback", "inspector")
    with session_scope() as session:
        alerts.advance(session, alert["id"], "feedback", "inspector", note="已停工整改，燃气管道加装防护")
        alerts.advance(session, alert["id"], "close", "checker")
    [closed] = _alerts(database, id=alert["id"])
    assert closed["status"] == "closed" and closed["reminders"] == 1 and closed["closed_at"] is not None
    assert [h["action"] for h in closed["history"]] == [
        "generated",
        "review",
        "dispatch",
        "remind",
        "feedback",
        "close",
    ]


def test_monthly_and_daily_runs_are_scheduled_on_the_queue() -> None:
    from core import jobs
    from spatial_api import tasks  # noqa: F401 - registers the packages' tasks and schedules

    jobs.get_queue.cache_clear()
    queue = jobs.get_queue()
    periodic = {t.periodic_id: t.cron for t in queue.periodic_registry.periodic_tasks.values()}
    assert periodic["credit-monthly"] == "0 2 1 * *" and periodic["credit-daily"] == "30 2 * * *"
    assert "cim:credit.rescore" in queue.tasks and "cim:credit.score" in queue.tasks

"""Alarm rules (hysteresis, minimum duration, rate of change), the HTTP intake, a scripted gas
build-up raising one alarm with its place, and the alarm's lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

pytestmark = pytest.mark.usefixtures("sample_city")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(kind: str, values: list[float], step_s: float = 10.0):
    from live import rules

    state, changes = rules.State(), []
    for i, value in enumerate(values):
        state, change = rules.step(rules.kinds()[kind], state, T0 + timedelta(seconds=i * step_s), value)
        if change:
            changes.append((i, change.action, change.level, change.rule))
    return changes


def _first_held(values: list[float], condition, seconds: float, after: int = -1, step_s: float = 10.0) -> int:
    """The first index after ``after`` where ``condition`` has held for ``seconds`` (readings ``step_s`` apart)."""
    run_start = None
    for i, value in enumerate(values):
        if i <= after or not condition(value):
            run_start = None
            continue
        run_start = i if run_start is None else run_start
        if (i - run_start) * step_s >= seconds:
            return i
    raise AssertionError("never held")


def test_noise_around_a_threshold_does_not_flap():
    from live import rules

    ch4 = rules.kinds()["CH4"]
    warning = next(t for t in ch4.thresholds if t.level == 1)
    # 20 readings alternating just below / above the warning value (never 20 s in a row above), then
    # 10 readings steadily above, then alternating again (above the clear value), then 12 normal ones.
    flicker = [warning.value - 0.5, warning.value + 0.5] * 10
    steady = [warning.value + 2] * 10
    hold = [warning.value - 1, warning.value + 1] * 5
    normal = [1.0] * 12
    values = flicker + steady + hold + normal
    changes = _run("CH4", values)
    raise_at = _first_held(values, lambda v: v >= warning.value, ch4.min_duration_s)
    clear_at = _first_held(values, lambda v: v <= warning.clear, ch4.clear_s, after=raise_at)
    assert raise_at == len(flicker) + 1  # the last flicker above starts the run
    assert min(hold) > warning.clear
    assert changes == [(raise_at, "raise", 1, "above"), (clear_at, "clear", 0, "")]


def test_rising_value_escalates_in_place_and_rate_rule_fires_before_the_threshold():
    from live import rules

    ch4 = rules.kinds()["CH4"]
    # 1 %LEL, then +1 %LEL every 10 s: 6 %LEL/min, above the 5 %LEL/min rate rule.
    values = [1.0] * 8 + [1.0 + k for k in range(1, 30)]
    changes = _run("CH4", values)
    first_window = next(i for i in range(1, len(values)) if i * 10 >= ch4.rate_window_s and values[i] - values[0] > 0)
    assert changes[0][1:] == ("raise", 1, "rate")
    assert changes[0][0] >= first_window
    assert values[changes[0][0]] < next(t.value for t in ch4.thresholds if t.level == 1)
    alarm_level = next(t for t in ch4.thresholds if t.level == 2)
    escalate = [c for c in changes if c[1] == "escalate"]
    first_above = next(i for i, v in enumerate(values) if v >= alarm_level.value)
    assert escalate == [(first_above + int(ch4.min_duration_s // 10), "escalate", 2, "above")]
    assert [c[1] for c in changes] == ["raise", "escalate"]


def test_oxygen_alarms_below_its_threshold():
    from live import rules

    o2 = rules.kinds()["O2"]
    low = next(t for t in o2.thresholds if not t.above)
    changes = _run("O2", [20.8] * 3 + [low.value - 0.5] * 5)
    assert changes == [(3 + int(o2.min_duration_s // 10), "raise", 2, "below")]


def test_http_batch_lands_once_and_refuses_with_reasons(client, role_headers, rows):
    sensors = [r["id"] for r in rows("SELECT id FROM sensor WHERE kind = 'temperature' ORDER BY id DESC LIMIT 3")]
    now = datetime.now(UTC).replace(microsecond=0)
    batch = [
        {"sensor_id": s, "time": (now - timedelta(minutes=20 - i)).isoformat(), "value": 23.0 + i / 10}
        for s in sensors
        for i in range(10)
    ]
    bad = [
        {"sensor_id": "NOPE", "time": now.isoformat(), "value": 1},
        {"sensor_id": sensors[0], "time": now.isoformat(), "value": 900},
        {"sensor_id": sensors[0], "time": (now + timedelta(hours=1)).isoformat(), "value": 20},
    ]
    answer = client.post(
        "/api/v1/sensors/readings", json={"readings": batch + batch[:5] + bad}, headers=role_headers["engineer"]
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (len(batch), 5)
    assert sorted(r["reason"].split(" ")[0] for r in body["rejected"]) == ["time", "unknown", "value"]
    again = client.post("/api/v1/sensors/readings", json={"readings": batch}, headers=role_headers["engineer"]).json()
    assert (again["accepted"], again["duplicates"]) == (0, len(batch))
    stored = rows(
        "SELECT sensor_id, time, value FROM sensor_reading WHERE sensor_id = ANY(:s) AND time >= :t",
        s=sensors,
        t=now - timedelta(minutes=20),
    )
    assert sorted((r["sensor_id"], r["time"], r["value"]) for r in stored) == sorted(
        (b["sensor_id"], datetime.fromisoformat(b["time"]), b["value"]) for b in batch
    )
    assert client.post("/api/v1/sensors/readings", json={"readings": batch}).status_code == 401
    assert (
        client.post("/api/v1/sensors/readings", json={"readings": batch}, headers=role_headers["planner"]).status_code
        == 403
    )


def test_scripted_gas_build_up_raises_one_alarm_with_its_place(client, role_headers, rows, database):
    from live import ingest, simulate

    compartment = rows("SELECT id FROM tunnel_compartment WHERE 'gas' = ANY(utilities) ORDER BY id LIMIT 1")[0]["id"]
    leak = simulate.build_up_sensor(compartment)
    sensors = [
        (r["id"], r["kind"])
        for r in rows("SELECT id, kind FROM sensor WHERE compartment_id = :c ORDER BY id", c=compartment)
    ]
    plan = simulate.BuildUp(leak)
    steps = int((plan.start_s + 2 * plan.ramp_s + plan.hold_s + 120) / 10)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=steps * 10 + 3600)
    stream = list(simulate.readings(sensors, start, steps, 10.0, plan, seed=3))
    with database.begin() as conn:
        conn.execute(text("DELETE FROM alarm WHERE sensor_id = ANY(:s)"), {"s": [s for s, _ in sensors]})
    for t, values in stream:  # as the listener would: a small batch at a time
        with database.begin() as conn:
            ingest.ingest(conn, [ingest.Reading(s, t, v) for s, v in values], "mqtt")

    raised = rows("SELECT * FROM alarm WHERE sensor_id = ANY(:s) ORDER BY id", s=[s for s, _ in sensors])
    assert len(raised) == 1, [(a["sensor_id"], a["level"], a["raised_at"]) for a in raised]
    alarm = raised[0]
    assert alarm["sensor_id"] == leak and alarm["level"] == "alarm" and alarm["cleared_at"] is not None
    leak_values = [(t, v) for t, values in stream for s, v in values if s == leak]
    assert alarm["peak_value"] == max(v for _, v in leak_values)
    # Its place, by independent SQL: the same compartment of the touching segments, the gas pipes and valves along it.
    expect = rows(
        """SELECT (SELECT array_agg(n.id ORDER BY n.id) FROM tunnel_compartment n, utility_tunnel nu
                    WHERE nu.id = n.tunnel_id AND n.name = c.name AND n.id <> c.id
                      AND ST_Distance(nu.axis, u.axis) <= 1.0) AS neighbours,
                  (SELECT array_agg(p.id ORDER BY p.id) FROM pipeline p WHERE p.utility = 'gas'
                      AND ST_Distance(p.geom, u.axis) <= u.width_m / 2) AS pipes
             FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id WHERE c.id = :c""",
        c=compartment,
    )[0]
    assert alarm["compartment_id"] == compartment
    assert alarm["neighbours"] == (expect["neighbours"] or [])
    assert alarm["pipes"] == (expect["pipes"] or [])
    # The readings that raised it: the leak sensor's, ending at the alarm's reading, spanning the rule's
    # window (rate) or minimum duration (threshold), rising at least as fast as the rule says.
    from live import rules

    ch4 = rules.kinds()["CH4"]
    causing = [(datetime.fromisoformat(r["time"]), r["value"]) for r in alarm["readings"]]
    assert causing[-1][0] == alarm["reading_time"]
    assert causing == [(t, v) for t, v in leak_values if causing[0][0] <= t <= causing[-1][0]]
    span = (causing[-1][0] - causing[0][0]).total_seconds()
    if alarm["rule"] == "rate":
        assert span >= ch4.rate_window_s - 10
        assert (causing[-1][1] - causing[0][1]) / span * 60 >= ch4.rate_per_s * 60 - 1e-9
    else:
        assert span >= ch4.min_duration_s and min(v for _, v in causing) >= 10.0

    detail = client.get(f"/api/v1/alarms/{alarm['id']}").json()
    assert [s["status"] for s in detail["steps"]] == ["raised"]
    headers = role_headers["emergency"]
    for status in ("acknowledged", "closed"):
        answer = client.post(
            f"/api/v1/alarms/{alarm['id']}/steps", json={"status": status, "note": "测试"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
    again = client.post(f"/api/v1/alarms/{alarm['id']}/steps", json={"status": "handled"}, headers=headers)
    assert again.status_code == 409
    steps = rows("SELECT status, username FROM alarm_step WHERE alarm_id = :a ORDER BY id", a=alarm["id"])
    assert steps == [
        {"status": "raised", "username": None},
        {"status": "acknowledged", "username": "emergency"},
        {"status": "closed", "username": "emergency"},
    ]
    audited = rows(
        "SELECT action FROM audit_log WHERE object = :o AND action LIKE 'alarm.%' ORDER BY id", o=str(alarm["id"])
    )
    assert [a["action"] for a in audited] == ["alarm.acknowledged", "alarm.closed"]

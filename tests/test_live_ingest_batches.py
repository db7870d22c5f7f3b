"""The ingest's fast path for quiet sensors against the rule engine itself: readings written in big mixed
batches (several readings of each sensor per transaction, resent duplicates, a reading older than the
state) leave every sensor's state and alarms exactly as ``rules.step`` over each reading in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from live import ingest, rules

pytestmark = pytest.mark.usefixtures("sample_city")
STEP_S = 2
STEPS = 140
STATE_FIELDS = list(rules.State.__dataclass_fields__)


def _values(j: int) -> list[float]:
    """Sensor ``j``'s temperatures: normal, with a spike of ``8 * j`` readings above the alarm value from
    step 20 (short ones must not raise: the minimum duration is 60 s), one sensor warm but under the warning."""
    spike = range(20, 20 + 8 * j)
    return [41.0 if k in spike else (37.0 if j == 5 else 24.0) for k in range(STEPS)]


def _state(conn, sensor_id: str) -> rules.State:
    row = conn.execute(
        text(f"SELECT {', '.join(STATE_FIELDS)} FROM sensor_state WHERE sensor_id = :s"), {"s": sensor_id}
    ).first()
    return rules.State(**row._mapping) if row else rules.State()


def test_big_batches_leave_the_state_and_alarms_the_rules_give(database, rows):
    kind = rules.kinds()["temperature"]
    sensors = [r["id"] for r in rows("SELECT id FROM sensor WHERE kind = 'temperature' ORDER BY id LIMIT 6 OFFSET 14")]
    assert len(sensors) == 6
    with database.connect() as conn:
        before = {s: _state(conn, s) for s in sensors}
    # After every sensor's last reading (the rules skip older ones), within the future allowance.
    now = datetime.now(UTC).replace(microsecond=0)
    start = max(
        [now - timedelta(seconds=100), *(b.last_time + timedelta(seconds=1) for b in before.values() if b.last_time)]
    )
    assert start + timedelta(seconds=STEP_S * STEPS) < now + timedelta(seconds=300)
    readings = [
        ingest.Reading(s, start + timedelta(seconds=STEP_S * k), v)
        for k in range(STEPS)
        for j, s in enumerate(sensors)
        for v in [_values(j)[k]]
    ]
    # The oracle: the rule engine over each sensor's readings in time order.
    expected, raised = {}, {}
    for j, s in enumerate(sensors):
        state, changes = before[s], 0
        for k, v in enumerate(_values(j)):
            state, change = rules.step(kind, state, start + timedelta(seconds=STEP_S * k), v)
            changes += change is not None and change.action == "raise"
        expected[s], raised[s] = state, changes
    assert sorted(raised.values()) == [0, 0, 0, 0, 1, 1]  # spikes under 60 s never raise
    batches = [readings[a : a + 150] for a in range(0, len(readings), 150)]  # 25 readings of each sensor
    batches[2] += batches[1][:40]  # resent
    batches[3].append(readings[7])  # one written two batches before
    with database.connect() as conn:
        first_alarm = conn.execute(text("SELECT coalesce(max(id), 0) FROM alarm")).scalar_one()
    for batch in batches:
        with database.begin() as conn:
            ingest.ingest(conn, batch, "mqtt")
    with database.connect() as conn:
        after = {s: _state(conn, s) for s in sensors}
        alarms = dict(
            conn.execute(
                text("SELECT sensor_id, count(*) FROM alarm WHERE id > :a AND sensor_id = ANY(:s) GROUP BY sensor_id"),
                {"a": first_alarm, "s": sensors},
            ).all()
        )
    assert after == expected
    assert {s: alarms.get(s, 0) for s in sensors} == raised

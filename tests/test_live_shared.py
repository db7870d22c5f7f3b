"""Several `cim sensors listen` processes on one MQTT shared subscription ($share/<group>/…): the
broker spreads the readings over them, and killing one mid-stream loses no acknowledged reading."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures_live import ListenerProcess, wait_for
from tests.test_live_feeds import _publish, _sensors

pytestmark = pytest.mark.usefixtures("sample_city")


@pytest.fixture(scope="module")
def shared_listeners(database, sample_city, mqtt_broker, tmp_path_factory):
    logs = tmp_path_factory.mktemp("shared")
    procs = [
        ListenerProcess(database, logs / f"listener-{k}.log", ("--client-id", f"cim-shared-{k}", "--share", "bench"))
        for k in (1, 2)
    ]
    for proc in procs:
        proc.start()
    yield procs
    for proc in procs:
        proc.stop()


def test_shared_listeners_split_the_stream_and_a_killed_one_loses_no_acknowledged_reading(
    shared_listeners, publisher, rows, count_readings
):
    first, second = shared_listeners
    sensors = _sensors(rows, "O2", 20)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)  # a window of this test's own
    end = start + timedelta(seconds=199)
    items = [(s, start + timedelta(seconds=i), 20.8) for i in range(200) for s in sensors]  # 4,000 readings
    failures: list[BaseException] = []

    def send() -> None:
        try:
            _publish(publisher, items)
        except BaseException as exc:  # noqa: BLE001  # reported by the test's thread below
            failures.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    wait_for(lambda: count_readings(sensors, start, end) >= 300, 30, "the stream to start landing")
    first.kill()
    landed_at_kill = count_readings(sensors, start, end)
    sender.join(timeout=60)
    assert not sender.is_alive() and failures == []  # every reading acknowledged by the broker (QoS 1)
    # The survivor keeps writing its share while the other is dead.
    wait_for(lambda: count_readings(sensors, start, end) > landed_at_kill, 60, "the other listener to write")
    first.start()  # its persistent session kept what it had not acknowledged
    wait_for(lambda: count_readings(sensors, start, end) == len(items), 120, "every acknowledged reading")
    assert landed_at_kill < len(items)
    distinct = rows(
        "SELECT count(DISTINCT (sensor_id, time)) AS n FROM sensor_reading "
        "WHERE sensor_id = ANY(:ids) AND time BETWEEN :t AND :e",
        ids=sensors,
        t=start,
        e=end,
    )
    assert distinct == [{"n": len(items)}]
    assert second.alive()

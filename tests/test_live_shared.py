"""Several `cim sensors listen` processes on one MQTT shared subscription ($share/<group>/…): the
broker spreads the readings over them, and killing one mid-stream loses no acknowledged reading."""

from __future__ import annotations

import pytest

from tests.fixtures_live import ListenerProcess, wait_for
from tests.test_live_feeds import _distinct, _stream

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
    stream = _stream(publisher, rows, count_readings, days_ago=3)  # a window of this test's own
    sensors, start, end, items, sender = stream.sensors, stream.start, stream.end, stream.items, stream.sender
    first.kill()
    landed_at_kill = count_readings(sensors, start, end)
    sender.join(timeout=60)
    assert not sender.is_alive() and stream.failures == []  # every reading acknowledged by the broker (QoS 1)
    # The survivor keeps writing its share while the other is dead.
    wait_for(lambda: count_readings(sensors, start, end) > landed_at_kill, 60, "the other listener to write")
    first.start()  # its persistent session kept what it had not acknowledged
    wait_for(lambda: count_readings(sensors, start, end) == len(items), 120, "every acknowledged reading")
    assert landed_at_kill < len(items)
    assert _distinct(rows, sensors, start, end) == len(items)
    assert second.alive()

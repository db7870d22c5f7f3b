"""Several `cim sensors listen` processes on one MQTT shared subscription ($share/<group>/…): the
broker spreads the readings over them, and killing one mid-stream loses no acknowledged reading."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from tests.fixtures_live import SHARED_IDS, ListenerProcess, wait_for
from tests.test_live_feeds import _distinct, _publish, _stream

pytestmark = pytest.mark.usefixtures("sample_city")


@pytest.fixture(scope="module")
def shared_listeners(database, sample_city, mqtt_broker, tmp_path_factory):
    logs = tmp_path_factory.mktemp("shared")
    procs = [
        ListenerProcess(database, logs / f"listener-{k}.log", ("--client-id", client_id, "--share", "bench"))
        for k, client_id in enumerate(SHARED_IDS)
    ]
    for proc in procs:
        proc.start()
    yield procs
    for proc in procs:
        proc.stop()


def _settled(count_readings, sensors, start, end) -> int:
    """The count once it has stayed the same for two seconds (0 while it still moves)."""
    before = count_readings(sensors, start, end)
    time.sleep(2)  # a count that stops moving has no event to wait on
    return before if count_readings(sensors, start, end) == before else 0


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
    # The survivor keeps writing while the other is dead: readings published after the kill land (the
    # stream may have been all published, and the survivor's share written, before the kill).
    settled = wait_for(lambda: _settled(count_readings, sensors, start, end), 60, "the stream to settle")
    later = [(s, start + timedelta(seconds=i, milliseconds=500), 20.8) for i in range(10) for s in sensors]
    _publish(publisher, later)
    wait_for(lambda: count_readings(sensors, start, end) > settled, 60, "the other listener to write")
    first.start()  # its persistent session kept what it had not acknowledged
    total = len(items) + len(later)
    wait_for(lambda: count_readings(sensors, start, end) == total, 120, "every acknowledged reading")
    assert landed_at_kill < len(items)
    assert _distinct(rows, sensors, start, end) == total
    assert second.alive()

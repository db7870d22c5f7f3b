"""Several `cim sensors listen` processes on one MQTT shared subscription ($share/<group>/…): the
broker spreads the readings over them, and killing one mid-stream loses no acknowledged reading;
`cim serve` with ``CIM_LISTENERS=2`` runs two such listeners and stops them with itself."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from live.listener import end_sessions, gateway_topic
from spatial_api.local_server import free_port, stop
from tests.fixtures_live import SERVE_IDS, SHARED_IDS, ListenerProcess, wait_for
from tests.fixtures_viewer import start_server
from tests.test_live_feeds import _distinct, _publish, _sensors, _stream

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
    stream.resume.set()  # the rest of the stream is published while one listener is dead
    sender.join(timeout=60)
    assert not sender.is_alive() and stream.failures == []  # every reading acknowledged by the broker (QoS 1)
    # The survivor keeps writing while the other is dead: readings published after the kill land.
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


def test_cim_serve_runs_the_configured_listeners_on_a_shared_subscription(
    database, mqtt_broker, publisher, rows, count_readings, tmp_path
):
    log = tmp_path / "serve.log"
    env = {**os.environ, "DATABASE_URL": database.url.render_as_string(hide_password=False), "CIM_LISTENERS": "2"}
    server = start_server(free_port(), log, env=env)
    try:
        wait_for(lambda: log.read_text().count("listening on $share/cim/") == 2, 120, "both listeners to subscribe")
        children = psutil.Process(server.pid).children(recursive=True)
        listeners = [c for c in children if "listen" in c.cmdline() and "--share" in c.cmdline()]
        assert sorted(c.cmdline()[c.cmdline().index("--client-id") + 1] for c in listeners) == list(SERVE_IDS)
        sensors = _sensors(rows, "humidity", 10, skip=50)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)  # a window of this test's own
        items = [(s, start + timedelta(seconds=i)) for i in range(20) for s in sensors]
        payloads = [
            json.dumps([{"sensor_id": s, "time": t.isoformat(), "value": 60.0} for s, t in items[a : a + 20]])
            for a in range(0, len(items), 20)
        ]
        for info in [publisher.publish(gateway_topic("GW-SERVE"), p, qos=1) for p in payloads]:
            info.wait_for_publish(timeout=30)
        end = start + timedelta(seconds=19)
        wait_for(lambda: count_readings(sensors, start, end) == len(items), 60, "the readings through cim serve")
    finally:
        stop(server)
    _, outliving = psutil.wait_procs(listeners, timeout=20)
    assert outliving == []  # the listeners stop with the server
    end_sessions(list(SERVE_IDS))

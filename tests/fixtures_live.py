"""Test fixtures for the live-city tests (loaded by tests/conftest.py): the project's own Mosquitto,
started once, a `cim sensors listen` subprocess that a test may kill and restart, and an MQTT
publisher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
SHARED_IDS = ("cim-shared-1", "cim-shared-2")  # the shared-subscription test's listeners
SERVE_IDS = ("cim-listener-1", "cim-listener-2")  # `cim serve`'s with CIM_LISTENERS=2
RACE_IDS = ("cim-race-1", "cim-race-2")  # the partition race test's


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def mqtt_broker(database: Engine) -> Iterator[dict]:
    """The project's Mosquitto (under the test data dir), started once for the session."""
    from live import broker
    from live.listener import CLIENT_ID, end_sessions

    state = broker.up()
    # The broker's store outlives a run (under /var/lib/cim as root): sessions of an earlier run's
    # listeners would hand them its leftover readings, or keep queueing for ids no test starts.
    end_sessions([CLIENT_ID, *SHARED_IDS, *SERVE_IDS, *RACE_IDS])
    yield {"port": state.port, "data_dir": state.data_dir}
    broker.down()


class ListenerProcess:
    """`cim sensors listen` as a subprocess (logging to a file) that can be killed and restarted."""

    def __init__(self, database: Engine, log: Path, args: tuple[str, ...] = ()) -> None:
        self.args = args  # `cim sensors listen` options (client id, shared-subscription group)
        self.env = {
            **os.environ,
            "DATABASE_URL": database.url.render_as_string(hide_password=False),
            "PYTHONPATH": str(ROOT),
        }
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.wait_subscribed(self.launch())

    def launch(self) -> int:
        """Start the process; return the log's offset at the start (for ``wait_subscribed``)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "spatial_api.cli", "sensors", "listen", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=out,
            )
        return offset

    def wait_subscribed(self, offset: int) -> None:
        wait_for(lambda: "listening on" in self.log.read_text()[offset:], 120, "the listener to subscribe")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture(scope="module")
def listener(database: Engine, sample_city, mqtt_broker, tmp_path_factory) -> Iterator[ListenerProcess]:
    """A running listener for the module's tests (a test may kill and restart it)."""
    proc = ListenerProcess(database, tmp_path_factory.mktemp("listener") / "listener.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def publisher(mqtt_broker):
    """A connected MQTT client for publishing readings at QoS 1."""
    from live.listener import make_client

    client = make_client("cim-test-publisher", clean=True)
    from live import broker

    where = broker.address()
    client.connect(where.host, where.port)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


@pytest.fixture(scope="session")
def count_readings(database: Engine) -> Callable[..., int]:
    """Readings of these sensors stamped in [since, until]: a test counts only its own window, since
    other tests (the simulator, the build-ups) write readings of the same sensors ending now."""

    def count(sensor_ids: list[str], since, until) -> int:
        with database.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM sensor_reading WHERE sensor_id = ANY(:ids) AND time BETWEEN :since AND :until"
                ),
                {"ids": sensor_ids, "since": since, "until": until},
            ).scalar_one()

    return count


def publish_build_up(publisher, sensor_id: str, seed: int) -> dict[str, float]:
    """Publish a scripted CH4 build-up at one sensor, one reading at a time (QoS 1, acknowledged by the
    broker), ending now; return each reading's time (ISO, UTC) → wall-clock time it was published."""
    import json
    from datetime import UTC, datetime, timedelta

    from live import simulate

    # 90 s of normal readings first: longer than CH4's clear time, so an episode left open by an
    # earlier test clears before this one rises.
    plan = simulate.BuildUp(sensor_id, start_s=90, ramp_s=240, hold_s=60)
    steps = int((plan.start_s + plan.ramp_s + plan.hold_s) / 10)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=steps * 10 + 5)
    published: dict[str, float] = {}
    for t, values in simulate.readings([(sensor_id, "CH4")], start, steps, 10.0, plan, seed=seed):
        body = json.dumps({"time": t.isoformat(), "value": values[0][1]})
        publisher.publish(f"cim/sensors/{sensor_id}/readings", body, qos=1).wait_for_publish(timeout=10)
        published[t.isoformat()] = time.time()
        time.sleep(0.02)  # a gateway's pace; latency is measured from each alarm's own reading
    return published


@pytest.fixture(scope="session")
def gas_sensors(database: Engine, sample_city) -> list[str]:
    """The CH4 sensors of the first gas compartment; tests with a build-up each take their own, so one
    test's alarm episode never meets another's (the middle one is the simulator's default)."""
    with database.connect() as conn:
        ids = (
            conn.execute(
                text(
                    """SELECT s.id FROM sensor s JOIN tunnel_compartment c ON c.id = s.compartment_id
                    WHERE s.kind = 'CH4' AND c.id = (SELECT min(id) FROM tunnel_compartment
                                                      WHERE 'gas' = ANY(utilities)) ORDER BY s.id"""
                )
            )
            .scalars()
            .all()
        )
    assert len(ids) >= 3, ids
    return ids


@pytest.fixture
def sample_alarm(database: Engine, sample_city) -> Iterator[dict]:
    """One raised CH4 alarm at the first CH4 sensor (the sample city has none); removed after."""
    with database.begin() as conn:
        row = (
            conn.execute(
                text(
                    """INSERT INTO alarm (sensor_id, kind, level, rule, status, raised_at, reading_time, peak_value,
                                          compartment_id, neighbours, pipes, valves, readings, location)
                       SELECT id, kind, 'alarm', 'threshold', 'raised', now(), now(), 25.0, compartment_id, '{}', '{}',
                              '{}', '[]', position
                         FROM sensor WHERE kind = 'CH4' ORDER BY id LIMIT 1 RETURNING id, sensor_id"""
                )
            )
            .mappings()
            .one()
        )
    yield dict(row)
    with database.begin() as conn:
        conn.execute(text("DELETE FROM alarm WHERE id = :id"), {"id": row["id"]})

"""Sensor feeds through the project's real Mosquitto and the `cim sensors listen` subprocess:
exactly once across duplicates, a broker restart and a SIGKILL of the listener; refusals logged."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures_live import wait_for

pytestmark = pytest.mark.usefixtures("sample_city")


def _sensors(rows, kind: str, n: int, skip: int = 0) -> list[str]:
    return [
        r["id"]
        for r in rows("SELECT id FROM sensor WHERE kind = :k ORDER BY id LIMIT :n OFFSET :o", k=kind, n=n, o=skip)
    ]


FIRST = 1000  # readings of a stream published at once; the rest once ``resume`` is set


@dataclass
class Stream:
    """4,000 O2 readings (20 sensors × 200 s from ``start``) being published by a thread of their own: the
    first FIRST at once, the rest once ``resume`` is set. The test sets it after killing a listener, so the
    rest is acknowledged by the broker while that listener is dead, however fast the first part lands (a
    listener writes 1,000 readings in well under a poll of the test: killed "mid-stream" it had often
    written the whole stream)."""

    sensors: list[str]
    start: datetime
    end: datetime
    items: list[tuple[str, datetime, float]]
    sender: threading.Thread
    failures: list[BaseException]
    resume: threading.Event


def _stream(publisher, rows, count_readings, days_ago: int) -> Stream:
    """Start publishing a window of its own ``days_ago``, and wait until readings of it land."""
    sensors = _sensors(rows, "O2", 20)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    items = [(s, start + timedelta(seconds=i), 20.8) for i in range(200) for s in sensors]
    failures: list[BaseException] = []
    resume = threading.Event()

    def send() -> None:
        try:
            _publish(publisher, items[:FIRST])
            resume.wait(60)  # the test kills a listener first (a failing test does not: then in a minute)
            _publish(publisher, items[FIRST:])
        except BaseException as exc:  # noqa: BLE001  # reported by the test's thread
            failures.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    end = start + timedelta(seconds=199)
    wait_for(lambda: count_readings(sensors, start, end) >= 300, 30, "the stream to start landing")
    return Stream(sensors, start, end, items, sender, failures, resume)


def _distinct(rows, sensors: list[str], start: datetime, end: datetime) -> int:
    """Distinct (sensor, time) of these sensors' readings in [start, end]."""
    return rows(
        "SELECT count(DISTINCT (sensor_id, time)) AS n FROM sensor_reading "
        "WHERE sensor_id = ANY(:ids) AND time BETWEEN :t AND :e",
        ids=sensors,
        t=start,
        e=end,
    )[0]["n"]


def _publish(publisher, items: list[tuple[str, datetime, float]]) -> None:
    infos = [
        publisher.publish(f"cim/sensors/{s}/readings", json.dumps({"time": t.isoformat(), "value": v}), qos=1)
        for s, t, v in items
    ]
    for info in infos:
        info.wait_for_publish(timeout=30)
    assert all(info.is_published() for info in infos)  # every one acknowledged by the broker (QoS 1)


def test_mqtt_readings_land_once_across_duplicates_and_a_broker_restart(listener, publisher, rows, count_readings):
    from live import broker

    sensors = _sensors(rows, "humidity", 5)
    # A window of yesterday's: no other test writes readings there (theirs end now).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    end = start + timedelta(seconds=400)
    first = [(s, start + timedelta(seconds=10 * i), 70.0 + i / 10) for s in sensors for i in range(20)]
    _publish(publisher, first + first[:30])  # 30 duplicates
    wait_for(lambda: count_readings(sensors, start, end) == len(first), 30, "the first readings")

    port = broker.status().port
    broker.down()
    assert not broker.status().running
    broker.up()
    assert broker.status().port == port
    publisher.reconnect()
    wait_for(lambda: publisher.is_connected(), 10, "the publisher to reconnect")
    second = [(s, start + timedelta(seconds=10 * i), 70.0 + i / 10) for s in sensors for i in range(15, 40)]
    _publish(publisher, second)  # 5 per sensor overlap the first batch
    expected = {(s, t, v) for s, t, v in first + second}
    wait_for(lambda: count_readings(sensors, start, end) == len(expected), 30, "the readings after the restart")
    stored = rows(
        "SELECT sensor_id, time, value FROM sensor_reading WHERE sensor_id = ANY(:ids) AND time BETWEEN :t AND :e",
        ids=sensors,
        t=start,
        e=end,
    )
    assert {(r["sensor_id"], r["time"], r["value"]) for r in stored} == expected
    assert listener.alive()


def test_unknown_sensor_and_malformed_message_are_refused_and_logged(listener, publisher, rows, count_readings):
    good = _sensors(rows, "humidity", 1, skip=10)
    now = datetime.now(UTC).replace(microsecond=0)
    before = rows("SELECT coalesce(max(id), 0) AS id FROM sensor_rejection")[0]["id"]
    for topic, payload in (
        ("cim/sensors/NO-SUCH-SENSOR/readings", json.dumps({"time": now.isoformat(), "value": 1.0})),
        (f"cim/sensors/{good[0]}/readings", b"{not json"),
        (f"cim/sensors/{good[0]}/readings", json.dumps({"time": "2026-01-01T00:00:00", "value": 1})),
        (f"cim/sensors/{good[0]}/readings", json.dumps({"time": now.isoformat(), "value": 250.0})),
        (f"cim/sensors/{good[0]}/readings", json.dumps({"time": (now + timedelta(days=2)).isoformat(), "value": 70})),
    ):
        publisher.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    _publish(publisher, [(good[0], now, 71.5)])
    wait_for(lambda: count_readings(good, now, now) == 1, 30, "the good reading after the bad ones")
    refused = rows("SELECT sensor_id, reason, channel FROM sensor_rejection WHERE id > :id ORDER BY id", id=before)
    assert [r["channel"] for r in refused] == ["mqtt"] * 5
    expected = [
        ("NO-SUCH-SENSOR", "unknown sensor"),
        (good[0], "line 1 column 2"),  # malformed JSON: where it went wrong
        (good[0], "has no time zone"),
        (good[0], "outside humidity's range"),
        (good[0], "in the future"),
    ]
    for sensor_id, reason in expected:
        assert sum(r["sensor_id"] == sensor_id and reason in r["reason"] for r in refused) == 1, reason
    assert sum(r["reason"].startswith("malformed message: ") for r in refused) == 2  # the JSON, the zoneless time
    assert rows("SELECT value FROM sensor_reading WHERE sensor_id = :s AND time >= :t", s=good[0], t=now) == [
        {"value": 71.5}
    ]
    assert listener.alive()


def test_readings_go_to_their_month_partition(listener, publisher, rows, count_readings, database):
    from live import partitions

    sensor = _sensors(rows, "temperature", 1)[0]
    now = datetime.now(UTC).replace(microsecond=0)
    _publish(publisher, [(sensor, now - timedelta(minutes=1), 24.0)])
    wait_for(lambda: count_readings([sensor], now - timedelta(minutes=1), now) == 1, 30, "the reading")
    where = rows(
        "SELECT tableoid::regclass::text AS part FROM sensor_reading WHERE sensor_id = :s AND time >= :t",
        s=sensor,
        t=now - timedelta(minutes=1),
    )
    month = (now - timedelta(minutes=1)).strftime("%Y%m")
    assert rows("SELECT to_regclass('sensor_partitions.sensor_reading_202506') IS NOT NULL AS made") == [{"made": True}]
    assert where == [{"part": f"sensor_partitions.sensor_reading_{month}"}]
    # The sample city's June 2025 readings: moved out of the default partition (by the listener's
    # maintenance at start), then dropped by retention.
    sample = rows("SELECT count(*) AS n FROM sensor_reading WHERE time < '2025-07-01'")[0]["n"]
    assert sample > 0
    done = partitions.maintain()
    assert {f"sensor_reading_{month}", "sensor_reading_202506"} <= set(done["partitions"])
    assert rows("SELECT count(*) AS n FROM sensor_partitions.sensor_reading_default") == [{"n": 0}]
    in_june = rows("SELECT count(*) AS n FROM sensor_partitions.sensor_reading_202506")[0]["n"]
    assert in_june == sample
    later = datetime(2025, 6, 1, tzinfo=UTC) + timedelta(days=31 * 40)  # 40 months on: June 2025 is past 36
    assert "sensor_reading_202506" in partitions.maintain(now=later)["dropped"]
    assert rows("SELECT count(*) AS n FROM sensor_reading WHERE time < '2025-07-01'") == [{"n": 0}]


def test_killing_the_listener_mid_stream_loses_no_acknowledged_reading(listener, publisher, rows, count_readings):
    # A window of the day before yesterday's, its own: other tests write readings of the same sensors
    # ending now (counting from a time on without an end counted theirs too: the flake under the full suite).
    stream = _stream(publisher, rows, count_readings, days_ago=2)
    sensors, start, end, items, sender = stream.sensors, stream.start, stream.end, stream.items, stream.sender
    listener.kill()
    landed_at_kill = count_readings(sensors, start, end)
    stream.resume.set()  # the rest of the stream is published while the listener is dead
    sender.join(timeout=60)
    assert not sender.is_alive() and stream.failures == []  # every reading acknowledged by the broker (QoS 1)
    assert count_readings(sensors, start, end) == landed_at_kill  # nobody writes while the listener is dead
    listener.start()
    wait_for(lambda: count_readings(sensors, start, end) == len(items), 120, "every acknowledged reading")
    assert landed_at_kill < len(items)
    assert _distinct(rows, sensors, start, end) == len(items)

"""A gateway's batches (`cim/gateways/<id>/readings`, many sensors' readings per message) through the
real Mosquitto and `cim sensors listen`: exactly once across duplicates and a SIGKILL of the listener
mid-stream; a malformed item is refused with its reason while the rest of its message lands."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures_live import wait_for
from tests.test_live_feeds import _sensors

pytestmark = pytest.mark.usefixtures("sample_city")


def _batches(items: list[tuple[str, datetime, float]], size: int) -> list[bytes]:
    return [
        json.dumps([{"sensor_id": s, "time": t.isoformat(), "value": v} for s, t, v in items[a : a + size]]).encode()
        for a in range(0, len(items), size)
    ]


def _send(publisher, gateway: str, payloads: list[bytes]) -> None:
    infos = [publisher.publish(f"cim/gateways/{gateway}/readings", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(timeout=30)
    assert all(info.is_published() for info in infos)  # acknowledged by the broker (QoS 1)


def _stored(rows, sensors: list[str], start: datetime, end: datetime) -> list[tuple]:
    return [
        (r["sensor_id"], r["time"], r["value"])
        for r in rows(
            "SELECT sensor_id, time, value FROM sensor_reading WHERE sensor_id = ANY(:ids) AND time BETWEEN :t AND :e",
            ids=sensors,
            t=start,
            e=end,
        )
    ]


def test_gateway_batches_land_once_across_duplicates_and_a_killed_listener(listener, publisher, rows, count_readings):
    sensors = _sensors(rows, "O2", 20)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=4)  # a window of this test's own
    end = start + timedelta(seconds=299)
    items = [(s, start + timedelta(seconds=i), 20.0 + (i % 7) / 10) for i in range(300) for s in sensors]
    payloads = _batches(items, 100)  # 60 messages of 100 readings, each from 20 sensors
    failures: list[BaseException] = []

    def send() -> None:
        try:
            _send(publisher, "GW-01", payloads[:40] + payloads[5:10])  # 5 messages sent twice
        except BaseException as exc:  # noqa: BLE001  # reported by the test's thread
            failures.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    wait_for(lambda: count_readings(sensors, start, end) >= 500, 30, "the batches to start landing")
    # Killed while the stream goes on: the listener writes a gateway's 4,000 readings in a batch or two, so
    # the rest of the stream is published after the kill (acknowledged by the broker, kept for its session).
    listener.kill()
    landed_at_kill = count_readings(sensors, start, end)
    sender.join(timeout=60)
    _send(publisher, "GW-01", payloads[40:])
    assert not sender.is_alive() and failures == []
    assert landed_at_kill < len(items)
    listener.start()  # its persistent session kept what it had not acknowledged
    wait_for(lambda: count_readings(sensors, start, end) == len(items), 120, "every acknowledged reading")
    stored = _stored(rows, sensors, start, end)
    assert len(stored) == len(items)  # once each
    assert set(stored) == set(items)


def test_a_malformed_item_is_refused_and_the_rest_of_its_batch_lands(listener, publisher, rows, count_readings):
    good = _sensors(rows, "humidity", 3, skip=11)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    before = rows("SELECT coalesce(max(id), 0) AS id FROM sensor_rejection")[0]["id"]
    batch = [
        {"sensor_id": good[0], "time": now.isoformat(), "value": 61.0},
        {"time": now.isoformat(), "value": 62.0},  # no sensor
        {"sensor_id": good[1], "time": "2026-01-01T00:00:00", "value": 63.0},  # no zone
        "not an object",
        {"sensor_id": "NO-SUCH-SENSOR", "time": now.isoformat(), "value": 64.0},
        {"sensor_id": good[2], "time": now.isoformat(), "value": 250.0},  # out of range
        {"sensor_id": good[1], "time": now.isoformat(), "value": 65.0},
    ]
    _send(publisher, "GW-02", [json.dumps(batch).encode(), b"[{broken"])
    wait_for(lambda: count_readings(good, now, now) == 2, 30, "the good readings of the batch")
    wait_for(
        lambda: len(rows("SELECT id FROM sensor_rejection WHERE id > :id", id=before)) == 6, 30, "the six refusals"
    )
    refused = rows("SELECT sensor_id, reason, channel FROM sensor_rejection WHERE id > :id ORDER BY id", id=before)
    assert {r["channel"] for r in refused} == {"mqtt"}
    expected = [
        (None, "names its sensor_id"),
        (good[1], "has no time zone"),
        (None, "a reading is an object"),
        ("NO-SUCH-SENSOR", "unknown sensor"),
        (good[2], "outside humidity's range"),
        (None, "malformed message"),  # the whole message is not JSON
    ]
    for sensor_id, reason in expected:
        assert sum(r["sensor_id"] == sensor_id and reason in r["reason"] for r in refused) == 1, (reason, refused)
    stored = rows(
        "SELECT sensor_id, value FROM sensor_reading WHERE sensor_id = ANY(:ids) AND time = :t", ids=good, t=now
    )
    assert sorted((r["sensor_id"], r["value"]) for r in stored) == [(good[0], 61.0), (good[1], 65.0)]
    assert listener.alive()

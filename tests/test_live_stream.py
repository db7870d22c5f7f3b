"""A scripted gas build-up published over MQTT raises one alarm that reaches a Server-Sent-Events
client of a real uvicorn within a second of the reading that raised it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.fixtures_live import publish_build_up, wait_for

pytestmark = pytest.mark.usefixtures("sample_city")


class StreamReader(threading.Thread):
    """Reads the SSE stream, keeping (event, data, wall-clock arrival time)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.events: list[tuple[str, object, float]] = []
        self.client = httpx.Client(timeout=httpx.Timeout(5.0, read=None))

    def close(self) -> None:
        self.client.close()

    def run(self) -> None:
        with contextlib.suppress(httpx.HTTPError), self.client.stream("GET", self.url) as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.events.append((event, json.loads(line[6:]), time.time()))


def test_gas_build_up_alarm_reaches_the_stream_within_a_second(live_server, listener, publisher, rows, gas_sensors):
    leak = gas_sensors[0]
    before = rows("SELECT coalesce(max(id), 0) AS id FROM alarm")[0]["id"]
    reader = StreamReader(f"{live_server}/api/v1/live/stream")
    reader.start()
    wait_for(lambda: any(e == "alarms" for e, _, _ in reader.events), 20, "the stream's first event")

    published = publish_build_up(publisher, leak, seed=11)

    def alarm_events():
        return [
            (data, at)
            for e, items, at in reader.events
            if e == "alarm"
            for data in items
            if data["sensor_id"] == leak and data["id"] > before
        ]

    wait_for(lambda: alarm_events(), 20, "the alarm on the stream")
    first, arrived = alarm_events()[0]
    reading_time = datetime.fromisoformat(first["reading_time"]).astimezone(UTC).isoformat()
    latency = arrived - published[reading_time]
    assert latency < 1.0, f"{latency:.3f} s from the reading to the browser"
    raised = rows("SELECT id, level FROM alarm WHERE sensor_id = :s AND id > :b", s=leak, b=before)
    assert len(raised) == 1  # one alarm for the whole build-up, escalated in place
    assert {d["id"] for d, _ in alarm_events()} == {raised[0]["id"]}
    assert raised[0]["level"] == "alarm"
    readings = [e for e, _, _ in reader.events if e == "readings"]
    assert readings  # the latest readings flow too
    reader.close()

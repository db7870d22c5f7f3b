"""A scripted gas build-up published over MQTT raises one alarm that reaches a Server-Sent-Events
client of a real uvicorn within a second of the reading that raised it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.fixtures_live import wait_for

pytestmark = pytest.mark.usefixtures("sample_city")


class StreamReader(threading.Thread):
    """Reads the SSE stream, keeping (event, data, arrival time on the monotonic clock)."""

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
                    self.events.append((event, json.loads(line[6:]), time.monotonic()))


def test_gas_build_up_alarm_reaches_the_stream_within_a_second(live_server, listener, publisher, rows):
    from live import simulate

    compartment = rows("SELECT id FROM tunnel_compartment WHERE 'gas' = ANY(utilities) ORDER BY id LIMIT 1")[0]["id"]
    leak = simulate.build_up_sensor(compartment)
    before = rows("SELECT coalesce(max(id), 0) AS id FROM alarm")[0]["id"]
    reader = StreamReader(f"{live_server}/api/v1/live/stream")
    reader.start()
    wait_for(lambda: any(e == "alarms" for e, _, _ in reader.events), 20, "the stream's first event")

    plan = simulate.BuildUp(leak, start_s=60, ramp_s=240, hold_s=60)
    steps = int((plan.start_s + plan.ramp_s + plan.hold_s) / 10)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=steps * 10 + 5)
    published: dict[datetime, float] = {}
    for t, values in simulate.readings([(leak, "CH4")], start, steps, 10.0, plan, seed=11):
        info = publisher.publish(
            f"cim/sensors/{leak}/readings", json.dumps({"time": t.isoformat(), "value": values[0][1]}), qos=1
        )
        info.wait_for_publish(timeout=10)
        published[t] = time.monotonic()
        time.sleep(0.02)  # a gateway's pace; the alarm's latency is measured from its own reading

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
    reading_time = datetime.fromisoformat(first["reading_time"])
    latency = arrived - published[reading_time]
    assert latency < 1.0, f"{latency:.3f} s from the reading to the browser"
    raised = rows("SELECT id, level FROM alarm WHERE sensor_id = :s AND id > :b", s=leak, b=before)
    assert len(raised) == 1  # one alarm for the whole build-up, escalated in place
    assert {d["id"] for d, _ in alarm_events()} == {raised[0]["id"]}
    assert raised[0]["level"] == "alarm"
    readings = [e for e, _, _ in reader.events if e == "readings"]
    assert readings  # the latest readings flow too
    reader.close()

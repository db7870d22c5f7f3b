"""``cim sensors simulate``: realistic readings for the sample city's sensors over MQTT.

Each kind's normal mean, noise and daily swing come from ``sensor_kinds.json``; a scripted gas
build-up raises CH4 at one sensor of a chosen compartment from its normal level to ``peak`` over
``ramp_s`` seconds of simulated time, holds it, then lets it fall (a leak found and closed).
Simulated time runs ``speed`` times faster than the wall clock but never ahead of it: the
readings are stamped in the past, ending now.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import paho.mqtt.client as mqtt
from sqlalchemy import text

from core.db import get_engine
from core.errors import UserError
from live import broker, rules
from live.listener import make_client, topic_for


@dataclass(frozen=True)
class BuildUp:
    sensor_id: str
    start_s: float = 60.0
    ramp_s: float = 240.0
    hold_s: float = 120.0
    peak: float = 30.0


def sensors(kind: str | None = None) -> list[tuple[str, str]]:
    """(id, kind) of the sensors in the database."""
    where = "WHERE kind = :kind" if kind else ""
    with get_engine().connect() as conn:
        return [
            tuple(r) for r in conn.execute(text(f"SELECT id, kind FROM sensor {where} ORDER BY id"), {"kind": kind})
        ]


def build_up_sensor(compartment_id: str) -> str:
    """The middle CH4 sensor of a compartment: where the scripted leak is."""
    with get_engine().connect() as conn:
        ids = (
            conn.execute(
                text("SELECT id FROM sensor WHERE compartment_id = :c AND kind = 'CH4' ORDER BY id"),
                {"c": compartment_id},
            )
            .scalars()
            .all()
        )
    if not ids:
        raise UserError(f"compartment {compartment_id!r} has no CH4 sensor: choose a gas compartment (…-C3)")
    return ids[len(ids) // 2]


def _build_up_value(plan: BuildUp, t: float, base: float) -> float | None:
    into = t - plan.start_s
    if into < 0:
        return None
    if into < plan.ramp_s:
        return base + (plan.peak - base) * into / plan.ramp_s
    if into < plan.ramp_s + plan.hold_s:
        return plan.peak
    fall = into - plan.ramp_s - plan.hold_s
    return max(base, plan.peak - (plan.peak - base) * fall / plan.ramp_s)


def readings(
    sensor_kinds: list[tuple[str, str]],
    start: datetime,
    steps: int,
    step_s: float,
    build_up: BuildUp | None = None,
    seed: int = 7,
) -> Iterator[tuple[datetime, list[tuple[str, float]]]]:
    """Per time step: the time and each sensor's value (diurnal cycle + noise + the build-up)."""
    rng = np.random.default_rng(seed)
    kinds = rules.kinds()
    for i in range(steps):
        t = start + timedelta(seconds=i * step_s)
        hour = t.astimezone(UTC).hour + 8 + t.minute / 60  # local time, UTC+8
        values = []
        for sensor_id, kind in sensor_kinds:
            normal = kinds[kind].normal
            value = normal["mean"] + normal["daily_amplitude"] * math.sin((hour - 9) / 24 * 2 * math.pi)
            value += normal["noise"] * rng.standard_normal()
            if build_up and sensor_id == build_up.sensor_id:
                value = _build_up_value(build_up, i * step_s, normal["mean"]) or value
                value += normal["noise"] * rng.standard_normal()
            values.append((sensor_id, round(min(max(value, kinds[kind].low), kinds[kind].high), 3)))
        yield t, values


def publish(
    client: mqtt.Client, stream: Iterator[tuple[datetime, list[tuple[str, float]]]], pace_s: float = 0.0
) -> int:
    """Publish every reading at QoS 1 and wait for the broker's acknowledgements; return the count."""
    sent = 0
    pending = []
    for t, values in stream:
        stamp = t.isoformat()
        for sensor_id, value in values:
            pending.append(client.publish(topic_for(sensor_id), json.dumps({"time": stamp, "value": value}), qos=1))
            sent += 1
        if pace_s:
            time.sleep(pace_s)
    for info in pending:
        info.wait_for_publish(timeout=60)
    return sent


def run(
    compartment: str | None,
    minutes: float,
    step_s: float,
    speed: float,
    kind: str | None = None,
    seed: int = 7,
) -> dict:
    """Simulate ``minutes`` of readings ending now, paced ``speed`` times faster than real time."""
    chosen = sensors(kind)
    steps = max(1, int(minutes * 60 / step_s))
    start = datetime.now(UTC) - timedelta(seconds=steps * step_s)
    plan = BuildUp(build_up_sensor(compartment)) if compartment else None
    client = make_client(f"cim-simulate-{seed}", clean=True)
    where = broker.address()
    client.connect(where.host, where.port)
    client.loop_start()
    try:
        sent = publish(client, readings(chosen, start, steps, step_s, plan, seed), step_s / speed if speed else 0.0)
    finally:
        client.disconnect()
        client.loop_stop()
    return {"sensors": len(chosen), "readings": sent, "build_up_sensor": plan.sensor_id if plan else None}

"""Benchmark of the sensor feeds and emergency events on the sample city (default 100,000 buildings):
sustained readings per second through the project's Mosquitto and `cim sensors listen` into
PostgreSQL with 5,000 sensors, beside peers in the same run (the same readings written by the same
ingest code without MQTT, a bare COPY of them, and a naive subscriber's one INSERT per reading);
reading-to-browser alarm latency (publish → listener → commit → NOTIFY → uvicorn → Server-Sent Events
client), p50/p99; event intake to action sheet (`POST /api/v1/events`) per kind, beside the bare
overlay (`POST /api/v1/analysis/incident`). Writes bench/sensors/RESULTS.md.

    .venv/bin/python bench/sensors/run.py [--buildings 100000] [--sensors 5000] [--per-sensor 20] [--trials 100]
        [--gateway 100] [--shared 2,4] [--base-code main] [--only feeds|events] [--keep | --city URL DATA_DIR]

``--shared`` runs the gateway phase again with that many listeners on a shared subscription;
``--base-code REF`` runs each gateway phase first with the listener of git ``REF`` (A/B in the same run);
each gateway phase reports the listeners' CPU per reading, the direct peer its own per stage.

``--keep`` keeps the scratch database with its loaded city (its URL and data dir are printed);
``--city URL DATA_DIR`` runs ``--only events`` on such a database without loading the city again.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = 200  # smoke detectors for the latency trials (min duration 0: one reading raises)


def _load(sensors: int, buildings: int) -> float:
    """The sample city of ``buildings`` and the bench's sensors into the scratch database; the city's load time."""
    from core.db import get_engine
    from sample_models.load import load_sample_city

    began = time.perf_counter()
    load_sample_city(buildings, seed=7)
    city_s = time.perf_counter() - began
    statements = (
        """INSERT INTO utility_tunnel (id, name, segment, width_m, height_m, cover_depth_m, axis)
           VALUES ('T1', '基准管廊', 'S1', 9, 3.6, 3,
                   ST_SetSRID(ST_GeomFromText('LINESTRING Z (500000 3500000 0, 505000 3500000 0)'), :srid))""",
        """INSERT INTO tunnel_compartment (id, tunnel_id, name, utilities, offset_m, width_m)
           VALUES ('T1-C1', 'T1', '水信舱', '{water}', 0.3, 3.4)""",
        """INSERT INTO sensor (id, compartment_id, kind, unit, position)
           SELECT 'B' || lpad(i::text, 5, '0'), 'T1-C1', 'humidity', '%RH',
                  ST_SetSRID(ST_MakePoint(500000 + i, 3500000, 2), :srid) FROM generate_series(1, :n) i""",
        """INSERT INTO sensor (id, compartment_id, kind, unit, position)
           SELECT 'S' || lpad(i::text, 4, '0'), 'T1-C1', 'smoke', 'state',
                  ST_SetSRID(ST_MakePoint(500000 + i, 3500001, 2), :srid) FROM generate_series(1, :s) i""",
    )
    with get_engine().begin() as conn:
        srid = conn.execute(text("SELECT Find_SRID('public', 'sensor', 'position')")).scalar_one()
        for sql in statements:
            conn.execute(text(sql), {"n": sensors, "s": SMOKE, "srid": srid})
    return city_s


def _publish_part(args: tuple[int, int, int, int, str, int]) -> int:
    """One publisher process's share of the readings: one message per reading on the sensor's topic
    (``per_message`` 0), or gateway batches of ``per_message`` readings on ``cim/gateways/<id>/readings``."""
    part, parts, sensors, per_sensor, start, per_message = args
    from live import broker
    from live.listener import gateway_topic, make_client

    where = broker.address()
    client = make_client(f"bench-pub-{part}", clean=True)
    client.max_inflight_messages_set(1000)
    client.connect(where.host, where.port)
    client.loop_start()
    t0 = datetime.fromisoformat(start)
    infos = []
    readings = 0
    for k in range(per_sensor):
        stamp = (t0 + timedelta(seconds=k)).isoformat()
        mine = [f"B{i:05d}" for i in range(part + 1, sensors + 1, parts)]
        readings += len(mine)
        if not per_message:
            for sensor in mine:
                body = json.dumps({"time": stamp, "value": 70.0})
                infos.append(client.publish(f"cim/sensors/{sensor}/readings", body, qos=1))
            continue
        for a in range(0, len(mine), per_message):
            body = json.dumps([{"sensor_id": s, "time": stamp, "value": 70.0} for s in mine[a : a + per_message]])
            infos.append(client.publish(gateway_topic(f"GW{part}"), body, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=300)
    client.disconnect()
    client.loop_stop()
    return readings


def _count(engine, since: datetime) -> int:
    """The bench readings of the hour from ``since`` (each phase writes an hour of its own)."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM sensor_reading WHERE sensor_id LIKE 'B%' AND time >= :t "
                "AND time < :t + interval '1 hour'"
            ),
            {"t": since},
        ).scalar_one()


def _cpu_s(procs: list[subprocess.Popen]) -> float:
    """User + system CPU seconds the processes have used so far."""
    import psutil

    return sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs)


def throughput_mqtt(
    engine,
    sensors: int,
    per_sensor: int,
    start: datetime,
    per_message: int = 0,
    listeners: list[subprocess.Popen] | None = None,
) -> dict:
    """Readings published by two processes until all landed; with ``listeners``, their CPU per reading."""
    total = sensors * per_sensor
    cpu_before = _cpu_s(listeners or [])
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = [(p, 2, sensors, per_sensor, start.isoformat(), per_message) for p in range(2)]
        result = pool.map_async(_publish_part, parts)
        sent = None
        while _count(engine, start) < total:
            if sent is None and result.ready():
                result.get()  # a publisher that failed says why, rather than the count waiting for ever
                sent = time.perf_counter() - began
            time.sleep(0.1)
        landed = time.perf_counter() - began
        cpu = _cpu_s(listeners or []) - cpu_before
        published = sum(result.get())
    return {
        "readings": total,
        "published": published,
        "publish_s": round(sent or landed, 2),  # the publishers done (broker acknowledged every message)
        "seconds": round(landed, 2),
        "per_s": round(total / landed),
        "listener_cpu_us_per_reading": round(cpu / total * 1e6, 1) if listeners else None,
    }


def throughput_backlog(engine, env: dict, listener: subprocess.Popen, sensors: int, per_sensor: int, start: datetime):
    """The listener's own pace: readings published while it is stopped (its persistent session keeps
    them at the broker), then drained after it restarts; timed from its subscription to the last landed."""
    listener.terminate()
    listener.wait(20)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        parts = [(p, 2, sensors, per_sensor, start.isoformat(), 0) for p in range(2)]
        published = sum(pool.map(_publish_part, parts))
    restarted = _listeners(env, 1)[0]
    began = time.perf_counter()
    total = sensors * per_sensor
    while _count(engine, start) < total:
        time.sleep(0.1)
    seconds = time.perf_counter() - began
    return restarted, {
        "readings": total,
        "published": published,
        "seconds": round(seconds, 2),
        "per_s": round(total / seconds),
    }


def throughput_direct(engine, sensors: int, per_sensor: int, start: datetime, batch: int, per_message: int) -> dict:
    """Peer 1: the listener's own work without MQTT: gateway payloads decoded (``listener.Batch``) and
    written by the ingest (validation, dedup, rules, NOTIFY) in transactions of ``batch`` readings;
    CPU per reading of each stage (this process: decode, validate, the rest of the ingest)."""
    from live import ingest, listener

    messages = [
        listener.Message(
            0,
            1,
            listener.gateway_topic("GW"),
            json.dumps(
                [
                    {"sensor_id": f"B{i:05d}", "time": (start + timedelta(seconds=k)).isoformat(), "value": 70.0}
                    for i in range(a + 1, min(a + per_message, sensors) + 1)
                ]
            ).encode(),
        )
        for k in range(per_sensor)
        for a in range(0, sensors, per_message)
    ]
    total = sensors * per_sensor
    decode_s = ingest_s = 0.0
    began = time.perf_counter()
    messages.reverse()  # taken from the end
    while messages:
        t0 = time.process_time()
        taken = listener.Batch()
        while messages and taken.size < batch:
            taken.add(messages.pop())
        t1 = time.process_time()
        with engine.begin() as conn:
            ingest.ingest(conn, taken.readings, "http", taken.refused)
        decode_s, ingest_s = decode_s + t1 - t0, ingest_s + time.process_time() - t1
    seconds = time.perf_counter() - began
    return {
        "readings": total,
        "batch": batch,
        "seconds": round(seconds, 2),
        "per_s": round(total / seconds),
        # this process's CPU per reading: decoding the payloads, the ingest's client side (validation,
        # COPY, rules, NOTIFY); the rest of the wall time is waiting on PostgreSQL
        "cpu_us_per_reading": {
            "decode": round(decode_s / total * 1e6, 1),
            "ingest_client": round(ingest_s / total * 1e6, 1),
            "waiting_on_db": round(max(0.0, seconds - decode_s - ingest_s) / total * 1e6, 1),
        },
    }


def throughput_copy(engine, sensors: int, per_sensor: int, start: datetime) -> dict:
    """Peer 2: a bare COPY of the same readings into the table (no validation, dedup, rules or NOTIFY)."""
    rows = [
        (f"B{i:05d}", start + timedelta(seconds=k), 70.0, False)
        for k in range(per_sensor)
        for i in range(1, sensors + 1)
    ]
    from live import ingest

    ingest.ensure_partitions([start])
    began = time.perf_counter()
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy("COPY sensor_reading (sensor_id, time, value, alarm) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    seconds = time.perf_counter() - began
    return {"readings": len(rows), "seconds": round(seconds, 2), "per_s": round(len(rows) / seconds)}


def throughput_naive(engine, n: int, sensors: int, start: datetime) -> dict:
    """Peer 3: a naive subscriber, one INSERT and one commit per reading."""
    began = time.perf_counter()
    with engine.connect() as conn:
        for k in range(n):
            conn.execute(
                text("INSERT INTO sensor_reading VALUES (:s, :t, 70.0, false) ON CONFLICT DO NOTHING"),
                {"s": f"B{k % sensors + 1:05d}", "t": start + timedelta(seconds=k // sensors)},
            )
            conn.commit()
    seconds = time.perf_counter() - began
    return {"readings": n, "seconds": round(seconds, 2), "per_s": round(n / seconds)}


def latency(base: str, trials: int) -> dict:
    """Publish one smoke-alarm reading at a time; the time until its alarm arrives on the SSE stream."""
    from live import broker
    from live.listener import make_client

    arrivals: dict[str, float] = {}
    ready = threading.Event()

    def read() -> None:
        with (
            contextlib.suppress(httpx.HTTPError),  # the server stopping at the end of the run
            httpx.stream("GET", f"{base}/api/v1/live/stream", timeout=httpx.Timeout(5, read=None)) as response,
        ):
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    ready.set()
                elif line.startswith("data: ") and event == "alarm":
                    for item in json.loads(line[6:]):
                        arrivals.setdefault(item["sensor_id"], time.perf_counter())

    threading.Thread(target=read, daemon=True).start()
    ready.wait(20)
    where = broker.address()
    client = make_client("bench-latency", clean=True)
    client.connect(where.host, where.port)
    client.loop_start()
    samples = []
    now = datetime.now(UTC)
    for k in range(min(trials, SMOKE)):
        sensor = f"S{k + 1:04d}"
        sent = time.perf_counter()
        client.publish(f"cim/sensors/{sensor}/readings", json.dumps({"time": now.isoformat(), "value": 1}), qos=1)
        deadline = sent + 10
        while sensor not in arrivals and time.perf_counter() < deadline:
            time.sleep(0.0005)
        samples.append((arrivals.get(sensor, deadline) - sent) * 1000)
    client.disconnect()
    client.loop_stop()
    samples.sort()
    return {
        "trials": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 1),
        "max_ms": round(samples[-1], 1),
    }


EVENT_KINDS = ("gas_leak", "pipe_burst", "fire", "earthquake", "building_safety")


def _event_places(engine) -> dict[str, dict]:
    """Where each kind of event happens: the middle of a gas / water pipe, a building, a D-grade building."""
    import shapely

    from gis.analysis.inputs import to_crs84

    with engine.connect() as conn:
        pipe = {
            u: conn.execute(
                text(
                    "SELECT id, ST_AsBinary(ST_LineInterpolatePoint(ST_Force2D(geom), 0.5)) FROM pipeline "
                    "WHERE utility = :u ORDER BY id LIMIT 1 OFFSET 7"
                ),
                {"u": u},
            ).one()
            for u in ("gas", "water")
        }
        building = conn.execute(
            text("SELECT code, ST_AsBinary(ST_Centroid(footprint)) FROM building ORDER BY code LIMIT 1 OFFSET 500")
        ).one()
        d_grade = conn.execute(
            text("SELECT code, ST_AsBinary(ST_Centroid(footprint)) FROM building WHERE safety_grade = 'D' LIMIT 1")
        ).one()

    def point(wkb: bytes) -> dict:
        return shapely.geometry.mapping(to_crs84(shapely.from_wkb(bytes(wkb))))

    return {
        "gas_leak": {"location": point(pipe["gas"][1]), "pipe_id": pipe["gas"][0]},
        "pipe_burst": {"location": point(pipe["water"][1]), "pipe_id": pipe["water"][0]},
        "fire": {"location": point(building[1])},
        "earthquake": {"location": point(building[1]), "radius_m": 1000, "intensity": "VIII"},
        "building_safety": {"location": point(d_grade[1]), "building_code": d_grade[0]},
    }


def events(base: str, engine, trials: int) -> dict:
    """Per kind: ``trials`` POSTs of the event (intake, overlay, action sheet, tasks, in one request), and the
    same place's bare overlay (``/analysis/incident``, the kinds it has) as the peer; median and max ms."""
    token = httpx.post(
        f"{base}/api/v1/auth/token", data={"username": "emergency", "password": "emergency-demo"}, timeout=30
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    out = {}
    for kind, place in _event_places(engine).items():
        timings, overlay = [], []
        for _ in range(trials):
            began = time.perf_counter()
            answer = httpx.post(f"{base}/api/v1/events", json={"type": kind, **place}, headers=headers, timeout=120)
            timings.append((time.perf_counter() - began) * 1000)
            assert answer.status_code == 201, answer.text
            if kind in ("gas_leak", "pipe_burst", "fire"):
                body = {"type": kind, "location": place["location"]}
                began = time.perf_counter()
                answer = httpx.post(f"{base}/api/v1/analysis/incident", json=body, headers=headers, timeout=120)
                overlay.append((time.perf_counter() - began) * 1000)
                assert answer.status_code == 200, answer.text
        out[kind] = {
            "trials": trials,
            "median_ms": round(statistics.median(timings), 1),
            "max_ms": round(max(timings), 1),
            "overlay_median_ms": round(statistics.median(overlay), 1) if overlay else None,
        }
        print(kind, json.dumps(out[kind]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sensors", type=int, default=5000)
    parser.add_argument("--per-sensor", type=int, default=20)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--buildings", type=int, default=100_000)
    parser.add_argument("--event-trials", type=int, default=5)
    parser.add_argument("--gateway", type=int, default=100, help="Readings per gateway message.")
    parser.add_argument(
        "--only", choices=("feeds", "events"), help="One part (prints its JSON; RESULTS.md is written by a full run)."
    )
    parser.add_argument(
        "--shared", default="2", help="Listener counts on a shared subscription for the gateway phases (e.g. 2,4)."
    )
    parser.add_argument(
        "--base-code", metavar="REF", help="Also run the gateway phases with this git ref's listener (A/B, same run)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database and its city.")
    parser.add_argument("--city", nargs=2, metavar=("URL", "DATA_DIR"), help="A kept city (with --only events).")
    args = parser.parse_args()
    if args.city and args.only != "events":
        parser.error("--city runs only the events (the feeds write hours of readings a kept city already has)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still clean up (broker, database)
    from spatial_api.local_server import uvicorn_server

    with _city(args) as city_s:
        from core.db import get_engine
        from live import broker
        from live.settings import get_live_settings

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.only == "events":
            with uvicorn_server(env, timeout_s=900) as base:  # its warm-up reads the whole city
                kinds = events(base, get_engine(), args.event_trials)
            load_s = round(city_s, 1) if city_s is not None else "kept"
            print(json.dumps({"buildings": args.buildings, "city_load_s": load_s, "events": kinds}))
            return
        broker.up()
        listeners: list[subprocess.Popen] = []
        shared = [int(n) for n in args.shared.split(",") if n]
        stack = contextlib.ExitStack()
        try:
            with uvicorn_server(env) as base:
                engine = get_engine()
                now = datetime.now(UTC).replace(microsecond=0)
                gateway = []  # gateway batches: 1 listener, then each shared count; base code then ours
                codes = [("base", base_code(args.base_code, stack)), ("branch", ROOT)] if args.base_code else []
                for hour, (n, (code, where)) in enumerate(
                    itertools.product([1, *shared], codes or [("branch", ROOT)]), start=10
                ):
                    procs = _listeners(env, n, where)
                    phase = throughput_mqtt(
                        engine, args.sensors, args.per_sensor, now - timedelta(hours=hour), args.gateway, procs
                    )
                    gateway.append({"code": code, "listeners": n, **phase})
                    print("mqtt gateway", code, n, json.dumps(phase), flush=True)
                    _stop(procs)
                listeners = _listeners(env, 1)
                mqtt = throughput_mqtt(engine, args.sensors, args.per_sensor, now - timedelta(hours=4), 0, listeners)
                print("mqtt", json.dumps(mqtt), flush=True)
                restarted, backlog = throughput_backlog(
                    engine, env, listeners[0], args.sensors, args.per_sensor, now - timedelta(hours=6)
                )
                listeners = [restarted]
                print("backlog", json.dumps(backlog), flush=True)
                lat = latency(base, args.trials)
                batch = get_live_settings().listener_batch  # the listener's transaction size
                direct = throughput_direct(
                    engine, args.sensors, args.per_sensor, now - timedelta(hours=3), batch, args.gateway
                )
                print("direct", json.dumps(direct), flush=True)
                copy = throughput_copy(engine, args.sensors, args.per_sensor, now - timedelta(hours=2))
                print("copy", json.dumps(copy), flush=True)
                naive = throughput_naive(engine, 5000, args.sensors, now - timedelta(hours=1))
                print("naive", json.dumps(naive), flush=True)
                kinds = events(base, engine, args.event_trials) if args.only != "feeds" else {}
        finally:
            _stop(listeners)
            broker.down()
            stack.close()
    results = {
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "sensors": args.sensors,
        "buildings": args.buildings,
        "city_load_s": round(city_s, 1) if city_s is not None else None,
        "gateway_readings_per_message": args.gateway,
        "listener_batch": batch,
        "mqtt": mqtt,
        "mqtt_gateway": gateway,
        "backlog": backlog,
        "direct": direct,
        "copy": copy,
        "naive": naive,
        "latency": lat,
        "events": kinds,
    }
    print(json.dumps(results, indent=2))
    if args.only is None:
        _write(results)


@contextlib.contextmanager
def _city(args: argparse.Namespace) -> Iterator[float | None]:
    """The database of the run, its settings in the environment; yields the city's load time (None: kept)."""
    from bench.scratch import scratch_database
    from core.secrets import generated
    from core.settings import configure

    def keys(data_dir: Path) -> None:
        # The run's own random keys, as `cim demo` makes them (the loader hashes ID numbers, the server signs tokens).
        for key in ("jwt_secret", "field_key", "pii_key"):
            os.environ[f"CIM_{key.upper()}_FILE"] = str(generated(data_dir, key))
        configure(None)

    if args.city:
        os.environ["DATABASE_URL"], os.environ["CIM_DATA_DIR"] = args.city
        keys(Path(args.city[1]))
        from core import migrate

        migrate.upgrade()
        yield None
        return
    with scratch_database("sensors", keep=args.keep) as (url, data_dir):
        keys(data_dir)
        city_s = _load(args.sensors, args.buildings)
        print("city loaded", round(city_s, 1), "s", *(("kept:", url, data_dir) if args.keep else ()), flush=True)
        yield city_s


def base_code(ref: str, stack: contextlib.ExitStack) -> Path:
    """The project's tree at git ``ref`` in a temporary folder (removed with ``stack``): its listener is the A side."""
    import tempfile

    where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cim-base-")))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def _listeners(env: dict, n: int, code: Path = ROOT) -> list[subprocess.Popen]:
    """``n`` listener processes of the code in ``code`` on a shared subscription (``$share/bench…``), subscribed."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "spatial_api.cli", "sensors", "listen", "--client-id", f"bench-listener-{k}"]
            + (["--share", f"bench{n}"] if n > 1 else []),
            cwd=code,
            env={**env, "PYTHONPATH": str(code)},
            stderr=subprocess.PIPE,
        )
        for k in range(n)
    ]
    for proc in procs:
        _wait_subscribed(proc)
    return procs


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop the listeners and end their persistent sessions (else the broker keeps queueing for them)."""
    from live.listener import end_sessions

    for proc in procs:
        proc.terminate()
        proc.wait(20)
    end_sessions([f"bench-listener-{k}" for k in range(len(procs))])


def _wait_subscribed(listener: subprocess.Popen) -> None:
    """Until the listener logs that it subscribed (its log goes to stderr)."""
    assert listener.stderr is not None
    for line in listener.stderr:
        if b"listening on" in line:
            threading.Thread(target=listener.stderr.read, daemon=True).start()  # keep draining the pipe
            return
    raise RuntimeError("the listener exited before it subscribed")


def _write(r: dict) -> None:
    m, d, c, n, lat, ev = r["mqtt"], r["direct"], r["copy"], r["naive"], r["latency"], r["events"]
    per_message = r["gateway_readings_per_message"]
    gateway = [
        (
            f"MQTT, gateway batches of {per_message} readings per message → Mosquitto → {x['listeners']} "
            f"listener(s){' on a shared subscription' if x['listeners'] > 1 else ''} → PostgreSQL ({x['code']} code)",
            x,
        )
        for x in r["mqtt_gateway"]
    ]
    paths = (
        *gateway,
        ("MQTT, one reading per message on the sensor's topic (QoS 1, 2 publisher processes), 1 listener", m),
        ("the listener draining one-reading messages queued at the broker while it was stopped", r["backlog"]),
        (f"peer: the listener's decode + ingest fed directly (batches of {d['batch']:,}, no broker)", d),
        ("peer: bare COPY of the same readings (no validation, dedup, rules, NOTIFY)", c),
        ("peer: naive subscriber, one INSERT + commit per reading", n),
    )
    rows = "\n".join(
        f"| {label} | {x['readings']:,} | {x['seconds']} | {x['per_s']:,} | {x['per_s'] / c['per_s']:.2f} |"
        for label, x in paths
    )
    event_rows = "\n".join(
        f"| {kind} | {e['trials']} | {e['median_ms']} | {e['max_ms']} | "
        + (
            f"{e['overlay_median_ms']} | {e['median_ms'] / e['overlay_median_ms']:.2f} |"
            if e["overlay_median_ms"]
            else "– | – |"
        )
        for kind, e in ev.items()
    )
    worst = max(e["max_ms"] for e in ev.values())
    best = max(x["per_s"] for x in (m, *r["mqtt_gateway"]) if x.get("code", "branch") == "branch")
    (Path(__file__).parent / "RESULTS.md").write_text(
        f"""# Sensor feeds and emergency events benchmark

Machine: the shared 2-core development box (other helpers' tests running beside; load average
{r.get("load_average", "not recorded")} at the end of the run); one run of
`.venv/bin/python bench/sensors/run.py` on the sample city of {r["buildings"]:,} buildings (loaded in
{r["city_load_s"]} s into a database of its own), {r["sensors"]:,} bench sensors, {m["readings"]:,} readings.

## Readings through MQTT into PostgreSQL

| path | readings | seconds | readings/s | ratio to bare COPY |
|---|---:|---:|---:|---:|
{rows}

Goal ≥ 20,000 readings/s through MQTT: **{"met" if best >= 20000 else "not met"}** (best {best:,}/s).
The publishers were done (every message acknowledged by the broker) after
{", ".join(f"{x['publish_s']} s" for _, x in gateway)} (gateway phases) and {m["publish_s"]} s (one reading per
message).

Method: readings are counted as landed when `count(*)` in `sensor_reading` reaches the total (polled
every 0.1 s), from the first publish. Every reading is validated (sensor known, range, time), COPYed
into a session's staging table and written with one `INSERT … SELECT … ON CONFLICT DO NOTHING
RETURNING` per batch, run through the alarm rules (state rows locked per batch, the new states written
in one statement) and announced by NOTIFY, in one transaction per batch (up to {d["batch"]:,} readings, at most
the broker's 20,000 messages in flight per listener), acknowledged to the broker only after the commit.

## Reading to browser

Alarm latency (a smoke detector's reading published over MQTT → listener commit → NOTIFY → uvicorn's
SSE stream → the client), {lat["trials"]} trials, one at a time:
p50 **{lat["p50_ms"]} ms**, p99 **{lat["p99_ms"]} ms**, max {lat["max_ms"]} ms (goal p99 < 1 s:
**{"met" if lat["p99_ms"] < 1000 else "not met"}**).

## Event intake to action sheet

`POST /api/v1/events` as the emergency role: the event recorded, its overlay and kind's sections run
(valve trace, fire-engine route and hydrants, vulnerability ranking, building safety), the sheet
stored, the tasks dispatched and the timeline written, all in one request; peer: the same place's
bare overlay `POST /api/v1/analysis/incident` (the kinds it has).

| kind | trials | median ms | max ms | overlay median ms | ratio to overlay |
|---|---:|---:|---:|---:|---:|
{event_rows}

Goal < 2 s: **{"met" if worst < 2000 else "not met"}** (slowest of all trials {worst} ms).
"""
    )


if __name__ == "__main__":
    main()

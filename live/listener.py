"""``cim sensors listen``: the MQTT subscriber that writes readings into PostgreSQL.

Two topics, QoS 1, a persistent session (clean_session=False) so the broker keeps what arrives while
the listener is away:

- ``cim/sensors/{sensor_id}/readings``: one sensor's readings, the payload one JSON object
  ``{"time": ISO 8601 with zone | epoch seconds, "value": number}`` or a list of them;
- ``cim/gateways/{gateway_id}/readings``: a gateway's batch of readings of any of its sensors, the
  payload a JSON list of ``{"sensor_id": ..., "time": ..., "value": ...}`` (one message carries
  hundreds of readings: far less work per reading for the broker and both clients).

A transaction holds up to ``CIM_LISTENER_BATCH`` readings (20,000): the more of a sensor's readings
one holds, the fewer versions of its state row are written. Several listeners (``--share``, or
``CIM_LISTENERS`` for `cim serve`) split the readings through an MQTT shared subscription.

Acknowledgement is manual: a message is acknowledged only after the transaction holding its
readings (or their refusal) committed, so a crash or a database outage never loses an acknowledged
reading: the broker sends the unacknowledged ones again and (sensor, time) deduplicates them. In a
gateway's batch each malformed item is refused with its reason and the others are kept.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import orjson
import paho.mqtt.client as mqtt
import psycopg
from sqlalchemy.exc import DBAPIError

from core.db import get_engine
from live import broker, ingest
from live.settings import get_live_settings

log = logging.getLogger("cim.sensors")
TOPIC_PREFIX = "cim/sensors/"
TOPIC_FILTERS = ("cim/sensors/+/readings", "cim/gateways/+/readings")
CLIENT_ID = "cim-listener"


def topic_for(sensor_id: str) -> str:
    return f"{TOPIC_PREFIX}{sensor_id}/readings"


def gateway_topic(gateway_id: str) -> str:
    return f"cim/gateways/{gateway_id}/readings"


@dataclass(frozen=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes


def _reading(sensor_id: object, item: object) -> ingest.Reading:
    if not isinstance(item, dict):
        raise ValueError("a reading is an object with time and value")
    if not isinstance(sensor_id, str) or not sensor_id:
        raise ValueError("a gateway's reading names its sensor_id")
    return ingest.Reading(sensor_id, ingest.parse_time(item.get("time")), ingest.parse_value(item.get("value")))


def parse(message: Message) -> tuple[list[ingest.Reading], list[ingest.Rejection]]:
    """Readings of one message, and what in it is refused (with the reason)."""
    parts = message.topic.split("/")
    valid = len(parts) == 4 and parts[0] == "cim" and parts[1] in ("sensors", "gateways") and parts[3] == "readings"
    text_payload = message.payload[:2000].decode("utf-8", "replace")
    if not valid or not parts[2]:
        reason = f"topic {message.topic!r} is not cim/sensors/<id>/readings or cim/gateways/<id>/readings"
        return [], [ingest.Rejection(None, reason, text_payload)]
    sensor_id = parts[2] if parts[1] == "sensors" else None
    try:
        body = orjson.loads(message.payload)
    except orjson.JSONDecodeError as exc:
        return [], [ingest.Rejection(sensor_id, f"malformed message: {exc}", text_payload)]
    items = body if isinstance(body, list) else [body]
    if sensor_id is not None:  # one sensor's message stands or falls whole
        try:
            return [_reading(sensor_id, item) for item in items], []
        except (ValueError, TypeError, OverflowError) as exc:
            return [], [ingest.Rejection(sensor_id, f"malformed message: {exc}", text_payload)]
    readings, refused = [], []
    for item in items:  # a gateway's batch: each item on its own
        named = item.get("sensor_id") if isinstance(item, dict) else None
        try:
            readings.append(_reading(named, item))
        except (ValueError, TypeError, OverflowError) as exc:
            where = f"gateway {parts[2]}"
            refused.append(
                ingest.Rejection(
                    named if isinstance(named, str) else None,
                    f"malformed reading from {where}: {exc}",
                    orjson.dumps(item).decode()[:2000],
                )
            )
    return readings, refused


@dataclass
class Batch:
    """Messages written in one transaction, with their readings and refusals."""

    messages: list[Message] = field(default_factory=list)
    readings: list[ingest.Reading] = field(default_factory=list)
    refused: list[ingest.Rejection] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.readings) + len(self.refused)

    def add(self, message: Message) -> None:
        good, bad = parse(message)
        self.messages.append(message)
        self.readings += good
        self.refused += bad


def make_client(client_id: str, clean: bool) -> mqtt.Client:
    """A paho client with the broker's credentials (not yet connected)."""
    where = broker.address()
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311
    )
    if where.username:
        client.username_pw_set(where.username, where.password)
    client.reconnect_delay_set(0.2, 5)  # type: ignore[arg-type]  # paho says int but only adds and doubles it: seconds as float work
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(0)
    return client


def end_sessions(client_ids: list[str]) -> None:
    """End these clients' persistent sessions at the broker (a clean connect discards a session), so it
    stops keeping readings for listeners that are gone."""
    where = broker.address()
    for client_id in client_ids:
        client = make_client(client_id, clean=True)
        client.connect(where.host, where.port)
        deadline = time.monotonic() + 10
        while not client.is_connected() and time.monotonic() < deadline:
            client.loop(0.5)  # returns once the broker's CONNACK is read
        client.disconnect()


class Listener:
    """Receives on paho's network thread, writes and acknowledges on its own thread."""

    def __init__(self, client_id: str = CLIENT_ID, share: str | None = None) -> None:
        # A shared subscription ($share/<group>/…): the broker spreads the readings over the group's listeners.
        self.topic_filters = [f"$share/{share}/{f}" if share else f for f in TOPIC_FILTERS]
        self.settings = get_live_settings()
        self.inbox: queue.Queue[Message] = queue.Queue()
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.written = 0
        self.client = make_client(client_id, clean=False)
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        client.subscribe([(f, 1) for f in self.topic_filters])
        self.connected.set()
        log.info("listening on %s (session present: %s)", ", ".join(self.topic_filters), flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("broker connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Message(msg.mid, msg.qos, msg.topic, msg.payload))

    def _take_batch(self) -> Batch | None:
        """Messages parsed as they are taken, until ``listener_batch`` readings (one transaction) or
        ``listener_flush_s`` after the first."""
        try:
            first = self.inbox.get(timeout=0.2)
        except queue.Empty:
            return None
        batch = Batch()
        batch.add(first)
        deadline = time.monotonic() + self.settings.listener_flush_s
        while batch.size < self.settings.listener_batch:
            remaining = deadline - time.monotonic()
            try:
                batch.add(self.inbox.get(timeout=remaining) if remaining > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: Batch) -> None:
        while not self.stopping.is_set():
            try:
                with get_engine().begin() as conn:
                    result = ingest.ingest(conn, batch.readings, "mqtt", batch.refused)
                break
            except (DBAPIError, psycopg.Error) as exc:  # psycopg's own: the COPY runs on the driver's cursor
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                log.warning("database unavailable (%s); retrying the batch", reason)
                ingest.forget_partitions()
                time.sleep(1.0)
        else:
            return  # stopping with the batch unwritten: it stays unacknowledged, the broker resends it
        for message in batch.messages:  # committed: now, and only now, acknowledge
            if message.qos > 0:
                self.client.ack(message.mid, message.qos)
        self.written += result.accepted

    def run(self, until: threading.Event | None = None) -> None:
        """Connect, then write batches until ``until`` (or SIGINT/SIGTERM via the CLI) is set."""
        where = broker.address()
        self.client.connect_async(where.host, where.port, keepalive=30)
        self.client.loop_start()
        try:
            while not self.stopping.is_set() and not (until and until.is_set()):
                batch = self._take_batch()
                if batch is not None:
                    self._write(batch)
        finally:
            self.stopping.set()
            self.client.disconnect()
            self.client.loop_stop()
            log.info("stopped after writing %d readings", self.written)

    def stop(self) -> None:
        self.stopping.set()

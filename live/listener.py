"""``cim sensors listen``: the MQTT subscriber that writes readings into PostgreSQL.

Topics ``cim/sensors/{sensor_id}/readings``, QoS 1, a persistent session (clean_session=False) so
the broker keeps what arrives while the listener is away. Acknowledgement is manual: a message is
acknowledged only after the transaction holding its reading (or its refusal) committed, so a
crash or a database outage never loses an acknowledged reading: the broker sends the
unacknowledged ones again and (sensor, time) deduplicates them. Payload: one JSON object
``{"time": ISO 8601 with zone | epoch seconds, "value": number}`` or a list of them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

import orjson
import paho.mqtt.client as mqtt
import psycopg
from sqlalchemy.exc import DBAPIError

from core.db import get_engine
from live import broker, ingest
from live.settings import get_live_settings

log = logging.getLogger("cim.sensors")
TOPIC_PREFIX = "cim/sensors/"
TOPIC_FILTER = "cim/sensors/+/readings"
CLIENT_ID = "cim-listener"


def topic_for(sensor_id: str) -> str:
    return f"{TOPIC_PREFIX}{sensor_id}/readings"


@dataclass(frozen=True)
class Message:
    mid: int
    qos: int
    topic: str
    payload: bytes


def parse(message: Message) -> tuple[list[ingest.Reading], list[ingest.Rejection]]:
    """Readings of one message, or why it is refused."""
    parts = message.topic.split("/")
    sensor_id = parts[2] if len(parts) == 4 and parts[3] == "readings" else None
    text_payload = message.payload[:2000].decode("utf-8", "replace")
    if not sensor_id:
        return [], [ingest.Rejection(None, f"topic {message.topic!r} is not cim/sensors/<id>/readings", text_payload)]
    try:
        body = orjson.loads(message.payload)
        items = body if isinstance(body, list) else [body]
        readings = []
        for item in items:
            if not isinstance(item, dict):
                raise ValueError("a reading is an object with time and value")
            readings.append(
                ingest.Reading(sensor_id, ingest.parse_time(item.get("time")), ingest.parse_value(item.get("value")))
            )
        return readings, []
    except (ValueError, TypeError, OverflowError) as exc:
        return [], [ingest.Rejection(sensor_id, f"malformed message: {exc}", text_payload)]


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


class Listener:
    """Receives on paho's network thread, writes and acknowledges on its own thread."""

    def __init__(self, client_id: str = CLIENT_ID, share: str | None = None) -> None:
        # A shared subscription ($share/<group>/…): the broker spreads the readings over the group's listeners.
        self.topic_filter = f"$share/{share}/{TOPIC_FILTER}" if share else TOPIC_FILTER
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
        client.subscribe(self.topic_filter, qos=1)
        self.connected.set()
        log.info("listening on %s (session present: %s)", self.topic_filter, flags.session_present)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if not self.stopping.is_set():
            log.warning("broker connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Message(msg.mid, msg.qos, msg.topic, msg.payload))

    def _take_batch(self) -> list[Message]:
        try:
            batch = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.settings.listener_flush_s
        while len(batch) < self.settings.listener_batch:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self.inbox.get(timeout=max(remaining, 0)) if remaining > 0 else self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[Message]) -> None:
        readings: list[ingest.Reading] = []
        refused: list[ingest.Rejection] = []
        for message in batch:
            good, bad = parse(message)
            readings += good
            refused += bad
        while not self.stopping.is_set():
            try:
                with get_engine().begin() as conn:
                    result = ingest.ingest(conn, readings, "mqtt", refused)
                break
            except (DBAPIError, psycopg.Error) as exc:  # psycopg's own: the COPY runs on the driver's cursor
                reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                log.warning("database unavailable (%s); retrying the batch", reason)
                ingest.forget_partitions()
                time.sleep(1.0)
        else:
            return  # stopping with the batch unwritten: it stays unacknowledged, the broker resends it
        for message in batch:  # committed: now, and only now, acknowledge
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
                if batch:
                    self._write(batch)
        finally:
            self.stopping.set()
            self.client.disconnect()
            self.client.loop_stop()
            log.info("stopped after writing %d readings", self.written)

    def stop(self) -> None:
        self.stopping.set()

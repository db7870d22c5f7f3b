"""Configuration of the live city (environment prefix ``CIM_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LiveSettings(BaseSettings):
    """Broker, ingest and retention settings."""

    model_config = SettingsConfigDict(env_prefix="CIM_", extra="ignore")

    # An external broker as ``mqtt://user:password@host:port``; unset: the project's own Mosquitto.
    mqtt_url: str | None = None
    # Readings older than this many months are dropped with their monthly partition.
    sensor_retention_months: int = 36
    # Monthly partitions created ahead of the current month.
    sensor_partitions_ahead: int = 2
    # Readings stamped further than this in the future are refused (clock skew allowance).
    sensor_max_future_s: float = 300.0
    # The listener writes at most this many readings per transaction, and waits at most this long
    # for more once it has one.
    # Bigger batches write each sensor's state row once for several of its readings.
    listener_batch: int = 20_000
    listener_flush_s: float = 0.05
    # `cim serve` runs this many listener processes; more than one share the readings through an MQTT
    # shared subscription ($share/cim/…), each with a client id (and persistent session) of its own.
    listeners: int = Field(default=1, ge=1)


@lru_cache
def get_live_settings() -> LiveSettings:
    return LiveSettings()

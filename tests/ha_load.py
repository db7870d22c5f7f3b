"""The write load of the failover test, run inside the API host's network namespace: numbered
rows inserted one transaction each through the multi-host URL (read-write), each acknowledged
id written to a file once its COMMIT returned; a lost connection is reopened (the failover).
``count`` prints the ids present, as JSON; ``standby`` whether the URL leads to a standby."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psycopg


def load(url: str, acked_file: Path, stop_file: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    next_id = 1
    conn = None
    with acked_file.open("a") as acked:
        while time.monotonic() < deadline and not stop_file.exists():
            try:
                if conn is None:
                    conn = psycopg.connect(url, autocommit=True)
                    conn.execute("CREATE TABLE IF NOT EXISTS ha_probe (id bigint PRIMARY KEY, at timestamptz)")
                conn.execute("INSERT INTO ha_probe VALUES (%s, clock_timestamp()) ON CONFLICT DO NOTHING", (next_id,))
            except psycopg.Error:
                conn = None
                time.sleep(0.1)
                continue
            acked.write(f"{next_id} {time.time():.3f}\n")
            acked.flush()
            next_id += 1
            time.sleep(0.01)


def count(url: str) -> None:
    with psycopg.connect(url) as conn:
        print(json.dumps(conn.execute("SELECT coalesce(array_agg(id), '{}') FROM ha_probe").fetchone()[0]))


def standby(url: str) -> None:
    """Whether the server the URL leads to is a standby (for the read-only URL: prefer-standby)."""
    with psycopg.connect(url) as conn:
        print(json.dumps(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]))


if __name__ == "__main__":
    if sys.argv[1] == "standby":
        standby(sys.argv[2])
    elif sys.argv[1] == "load":
        load(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), float(sys.argv[5]))
    else:
        count(sys.argv[2])

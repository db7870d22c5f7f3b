"""Two `cim sensors listen` processes started together, fed readings of a month that has no partition
yet: both make it at the same moment (the partition function is idempotent under its lock), neither
logs an error, and both write their share exactly once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.fixtures_live import RACE_IDS, ListenerProcess, wait_for
from tests.test_live_feeds import _distinct, _publish, _sensors

pytestmark = pytest.mark.usefixtures("sample_city")


def _partitions(rows) -> set[str]:
    return {
        r["relname"]
        for r in rows(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'sensor_reading'::regclass"""
        )
    }


def test_two_listeners_starting_together_make_a_fresh_month_without_error(
    database, mqtt_broker, publisher, rows, tmp_path_factory
):
    # A month no other test writes (20 months back, inside the 36-month retention) and no partition holds.
    month = (datetime.now(UTC) - timedelta(days=610)).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    name = f"sensor_reading_{month:%Y%m}"
    assert name not in _partitions(rows)
    logs = tmp_path_factory.mktemp("race")
    procs = [
        ListenerProcess(database, logs / f"listener-{k}.log", ("--client-id", client_id, "--share", "race"))
        for k, client_id in enumerate(RACE_IDS)
    ]
    offsets = [proc.launch() for proc in procs]  # together: both make the coming months' partitions at start
    try:
        for proc, offset in zip(procs, offsets, strict=True):
            proc.wait_subscribed(offset)
        sensors = _sensors(rows, "O2", 20)
        start = month + timedelta(days=3)
        items = [(s, start + timedelta(seconds=i), 20.8) for i in range(100) for s in sensors]
        _publish(publisher, items)
        end = start + timedelta(seconds=99)
        wait_for(lambda: _distinct(rows, sensors, start, end) == len(items), 60, "every reading of the fresh month")
    finally:
        for proc in procs:
            proc.stop()
    assert name in _partitions(rows)
    landed = rows("SELECT count(*) AS n FROM sensor_partitions." + name + " WHERE sensor_id = ANY(:ids)", ids=sensors)[
        0
    ]["n"]
    assert landed == len(items)  # in the month's own partition, once each
    written = []
    for proc in procs:
        text = proc.log.read_text()
        assert "database unavailable" not in text and " ERROR " not in text and "Traceback" not in text, text
        found = re.findall(r"stopped after writing (\d+) readings", text)
        assert found, text
        written.append(int(found[-1]))
    assert all(n > 0 for n in written), written  # the broker gave each a share, and each wrote it
    assert sum(written) == len(items)


def test_the_second_writer_waiting_on_the_lock_sees_the_first_ones_partition(owner_database):
    """Deterministic form of the race: the waiting backend had already looked the month up (and cached
    that it did not exist) before the first writer made it."""
    import threading

    from sqlalchemy import text

    month = datetime(2025, 2, 1, tzinfo=UTC)  # inside the retention, written by no other test
    name = f"sensor_reading_{month:%Y%m}"
    outcome: dict[str, object] = {}
    with owner_database.connect() as first, owner_database.connect() as second:  # partition upkeep: the owner's
        looked = second.execute(text("SELECT to_regclass(:n)"), {"n": f"sensor_partitions.{name}"}).scalar()
        assert looked is None
        second.commit()
        first.execute(text("SELECT sensor_reading_partition(:m)"), {"m": month})  # holds the lock until commit
        pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()
        second.commit()

        def make() -> None:
            try:
                outcome["name"] = second.execute(text("SELECT sensor_reading_partition(:m)"), {"m": month}).scalar()
                second.commit()
            except Exception as exc:  # noqa: BLE001  # reported by the test's thread
                outcome["error"] = exc

        waiter = threading.Thread(target=make)
        waiter.start()
        wait_for(
            lambda: first.execute(
                text("SELECT count(*) FROM pg_locks WHERE pid = :p AND locktype = 'advisory' AND NOT granted"),
                {"p": pid},
            ).scalar_one(),
            30,
            "the second writer to wait for the lock",
        )
        first.commit()
        waiter.join(30)
    assert outcome == {"name": name}
    with owner_database.connect() as conn:
        attached = conn.execute(
            text("""SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'sensor_reading'::regclass AND c.relname = :n"""),
            {"n": name},
        ).scalar_one()
    assert attached == 1

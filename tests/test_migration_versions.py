"""Migration 0028 moves each record's open version onto its row and back: the versions a record had
before it are the versions ``records.history`` gives after it, and a downgrade restores the table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from core import migrate
from records import history
from tests.conftest import create_database, drop_database
from tests.fixtures_records import uscc_for

T1, T2 = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)


def _versions(conn) -> list[tuple]:
    return [
        tuple(r)
        for r in conn.execute(
            text("SELECT key, data->>'name', valid_from, valid_to, changed_by, reason FROM record_version ORDER BY id")
        )
    ]


def test_open_versions_move_onto_their_rows_and_back(server_url: str) -> None:
    name = f"cim_mig_{uuid.uuid4().hex[:8]}"
    engine = create_engine(create_database(server_url, name))
    changed, unversioned, deleted = (uscc_for(f"91320400{n:09d}") for n in (1, 2, 3))
    try:
        migrate.upgrade(engine, "0027")
        with engine.begin() as conn:
            conn.execute(
                text("""INSERT INTO enterprise (uscc, name, type, status)
                        VALUES (:a, '新名', 'builder', 'active'), (:b, '老企业', 'builder', 'active')"""),
                {"a": changed, "b": unversioned},
            )
            conn.execute(
                text("""INSERT INTO record_version (kind, key, data, valid_from, valid_to, changed_by, reason) VALUES
                        ('enterprises', :a, '{"name": "原名"}', :t1, :t2, 'importer', 'import'),
                        ('enterprises', :a, '{"name": "stale"}', :t2, NULL, 'editor', 'updated'),
                        ('enterprises', :c, '{"name": "已删"}', :t1, :t2, 'importer', 'import'),
                        ('enterprises', :c, NULL, :t2, NULL, 'editor', 'deleted')"""),
                {"a": changed, "c": deleted, "t1": T1, "t2": T2},
            )
        with engine.connect() as conn:
            before = _versions(conn)

        migrate.upgrade(engine, "0028")
        with engine.connect() as conn:
            rows = {
                r.uscc: r
                for r in conn.execute(text("SELECT uscc, version_from, version_by, version_reason FROM enterprise"))
            }
            assert (rows[changed].version_from, rows[changed].version_by, rows[changed].version_reason) == (
                T2, "editor", "updated"
            )  # fmt: skip
            assert rows[unversioned].version_from is None
            assert _versions(conn) == [before[0], *before[2:]]  # the superseded ones and the deleted key's stay
            got = history.versions(conn, "enterprises", changed)
            assert [(v["data"]["name"], v["valid_from"], v["valid_to"]) for v in got] == [
                ("原名", T1, T2), ("新名", T2, None)
            ]  # fmt: skip
            assert got[1]["data"]["uscc"] == changed and "version_from" not in got[1]["data"]
            assert [v["data"] for v in history.versions(conn, "enterprises", deleted)][1] is None
            assert history.as_of(conn, "enterprises", unversioned, datetime.now(UTC)) is None
            current = got[1]["data"]

        migrate.downgrade(engine, "0027")
        with engine.connect() as conn:
            after = _versions(conn)
            assert after[:3] == [before[0], *before[2:]]
            assert after[3:] == [(changed, "新名", T2, None, "editor", "updated")]
            data = conn.execute(
                text("SELECT data FROM record_version WHERE key = :a AND valid_to IS NULL"), {"a": changed}
            ).scalar_one()
            assert data == current  # the row's stored columns, as versions kept them before
            columns = conn.execute(
                text("""SELECT count(*) FROM information_schema.columns
                        WHERE column_name IN ('version_from', 'version_by', 'version_reason')""")
            ).scalar_one()
            assert columns == 0
    finally:
        engine.dispose()
        drop_database(server_url, name)

"""A layer's builds outside the queue (``build_layer`` in a process: `cim tiles build`, a review approval's
rebuild) are serialized with its queued builds: an inline build waits for a queued one handed on to parts
and writes after it; a queued build waits for an inline one; an inline build killed with ``kill -9`` frees
the layer (its lock ends with its database session), and `cim tiles build` says what it waits for. Real
`cim worker` processes on a database and data dir of the module's own."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, text

from tests.test_tiles_parts import PART_FEATURES, ROOT, ended, job_row, parts_of, tileset_files, wait
from tests.test_tiles_parts import many_nodes as many_nodes  # a fixture
from tests.test_tiles_parts import workers as workers  # a fixture
from tests.test_tiles_serial import a_pipe as a_pipe  # a fixture
from tests.test_tiles_serial import build, fresh_build_files


@pytest.fixture(scope="module")
def database(database: Engine, server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """This module's own database and data dir (the session's server's worker would take these jobs)."""
    from tests.conftest import migrated_database

    with migrated_database(server_url, "cim_inline_tiles", tmp_path_factory.mktemp("inline-data")) as engine:
        yield engine


def lock_holders(database: Engine, layer: str) -> list[str]:
    """The application names of the sessions holding the layer's build lock, by pg_locks."""
    from core.holds import CLASS

    with database.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                    WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
                          SELECT oid FROM pg_database WHERE datname = current_database())
                      AND (l.classid, l.objid, l.objsubid) = (hashtext(:c)::oid, hashtext(:k)::oid, 2)"""
            ),
            {"c": CLASS, "k": f"tiles.build:{layer}"},
        )
        return list(rows.scalars())


def past_start(database: Engine, job_id) -> dict | None:
    """The job's row once its run got past starting (it waits, or builds, or ended)."""
    row = job_row(database, job_id)
    return row if row["stage"] not in ("queued", "started") else None


def test_an_inline_build_waits_for_a_queued_build_in_parts_and_writes_after_it(many_nodes, workers, database):
    """Started while the queued build's parts run (after it read the layer) and a write, the inline build
    waits, saying for which job, reads only once the queued build ended, and its tileset, written last, is
    the database's state now."""
    workers.start()
    queued = build(part_features=PART_FEATURES)
    wait(lambda: parts_of(database, queued) or ended(database, queued), 300, "the queued build to hand on")
    assert job_row(database, queued)["status"] == "running"
    with database.begin() as conn:  # after the queued build read the layer: only the inline build sees it
        conn.execute(text("UPDATE pipe_node SET depth_m = 2.5 WHERE id IN ('TT-M7', 'TT-M7000', 'TT-M14000')"))
    stages: list[tuple[str, str, list[bool]]] = []  # each stage the inline build reported, the queued one then

    def report(stage: str, percent: float) -> None:
        if not stages or stages[-1][0] != stage:
            parts = [part["result"] is not None for part in parts_of(database, queued)]
            stages.append((stage, job_row(database, queued)["status"], parts))

    from tiles.build import build_layer

    build_layer("pipe_nodes", report)
    assert stages[0][:2] == (f"waiting for the build of pipe_nodes running in job {queued}", "running")
    assert not all(stages[0][2])  # parts were left to do
    reading = next(s for s in stages if s[0] == "reading")
    assert reading[1] == "succeeded" and all(reading[2])
    assert tileset_files("pipe_nodes") == fresh_build_files()


def test_a_queued_build_waits_for_an_inline_build(a_pipe, workers, database):
    """Submitted while an inline build of the layer has read and not yet written (held there) and after a
    write, the queued build waits, saying for what; it builds once the inline build is done, and the tileset
    is the database's state now."""
    from tiles.build import build_layer

    workers.start()
    has_read, go_on = threading.Event(), threading.Event()

    def report(stage: str, percent: float) -> None:
        if stage == "writing tiles" and not has_read.is_set():
            has_read.set()
            go_on.wait(300)

    with ThreadPoolExecutor(1) as pool:
        try:
            inline = pool.submit(build_layer, "pipelines", report)
            assert has_read.wait(120), inline.exception(0) if inline.done() else "the inline build never read"
            with database.begin() as conn:
                conn.execute(text("UPDATE pipeline SET depth_m = 2.5 WHERE id = 'TT-SP1'"))
            queued = build("pipelines")
            row = wait(lambda: past_start(database, queued), 120, "the queued build to start")
            assert row["stage"] == "waiting for the build of pipelines running outside the queue"
            assert row["status"] == "running"
            assert not inline.done()
        finally:
            go_on.set()
        assert inline.result()["features"] == 1
    done = wait(lambda: ended(database, queued), 120, "the queued build")
    assert done["status"] == "succeeded", done["error"]
    assert tileset_files("pipelines") == fresh_build_files("pipelines")


HOLD = """
import sys
from tiles.build import build_layer


def report(stage, percent):
    if stage == "reading":
        print("reading", flush=True)
        sys.stdin.read()  # until the test closes it (it kills this process first)


build_layer("pipelines", report)
"""


def test_an_inline_build_killed_frees_its_layer(a_pipe, workers, database):
    """An inline build holding the layer (a process stopped in its read) makes a queued build and `cim tiles
    build` wait, each saying for what; killed with SIGKILL, it frees the layer: both then build."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD], cwd=ROOT, env=workers.env, start_new_session=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "reading\n"
        assert lock_holders(database, "pipelines") == ["cim hold"]
        workers.start()
        queued = build("pipelines")
        row = wait(lambda: past_start(database, queued), 120, "the queued build to start")
        assert row["stage"] == "waiting for the build of pipelines running outside the queue"
        terminal, cli_end = pty.openpty()  # `cim tiles build` shows its progress on a terminal only
        cli = subprocess.Popen(
            [sys.executable, "-m", "spatial_api.cli", "tiles", "build", "pipelines"], cwd=ROOT,
            env={**workers.env, "COLUMNS": "200"}, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=cli_end,
        )  # fmt: skip
        os.close(cli_end)
        shown = bytearray()
        threading.Thread(target=drain, args=(terminal, shown), daemon=True).start()
        waiting = b"waiting for the build of pipelines running outside the queue"
        wait(lambda: waiting in shown, 120, "`cim tiles build` to say it waits")
        assert cli.poll() is None and ended(database, queued) is None
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
    done = wait(lambda: ended(database, queued), 120, "the queued build")
    assert done["status"] == "succeeded", done["error"]
    assert cli.wait(120) == 0
    assert lock_holders(database, "pipelines") == []
    assert tileset_files("pipelines") == fresh_build_files("pipelines")


def drain(terminal: int, into: bytearray) -> None:
    """Read what a process writes to its terminal until it closes it (else it would block when full)."""
    while True:
        try:
            data = os.read(terminal, 4096)
        except OSError:  # EIO: the process's end closed
            break
        if not data:
            break
        into += data
    os.close(terminal)

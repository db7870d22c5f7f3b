"""A layer's tile builds run one at a time, in order of submission, across `cim worker` processes: a build
queued behind a fanned-out build starts only once its last part finished it, the final tileset is a fresh
build's; a submission equal to a waiting build is that build; builds of two layers run at once; a failed
build frees its layer; a build lost with its worker is run again, the next waiting behind it. Real `cim
worker` processes on a database and data dir of the module's own."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.fixtures_tiles import X0, Y0
from tests.test_tiles_parts import PART_FEATURES, SIDE, ended, job_row, parts_of, tileset_files, wait
from tests.test_tiles_parts import many_nodes as many_nodes  # a fixture
from tests.test_tiles_parts import workers as workers  # a fixture


@pytest.fixture(scope="module")
def database(database: Engine, server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """This module's own database and data dir (the session's server's worker would take these jobs)."""
    from tests.conftest import migrated_database

    with migrated_database(server_url, "cim_serial_tiles", tmp_path_factory.mktemp("serial-data")) as engine:
        yield engine


@pytest.fixture
def a_pipe(many_nodes: None, database: Engine) -> Iterator[None]:
    """A pipe between two of the valves (the pipe layer has a row to build), removed afterwards."""
    with database.begin() as conn:
        conn.execute(
            text(
                """INSERT INTO pipeline (id, utility, material, diameter_mm, depth_m, depth_ref, from_node, to_node,
                       status, geom) VALUES ('TT-SP1', 'water', 'PE', 200, 1.5, 'top', 'TT-M0', 'TT-M1', 'in_service',
                       ST_GeomFromText(:w, 4549))"""
            ),
            {"w": f"LINESTRING Z ({X0 - 2000} {Y0 - 2000} 3.5, {X0 - 1995} {Y0 - 2000} 3.5)"},
        )
    yield
    with database.begin() as conn:
        conn.execute(text("DELETE FROM pipeline WHERE id = 'TT-SP1'"))


def build(layer: str = "pipe_nodes", **params: Any) -> uuid.UUID:
    from core import jobs

    return jobs.submit("tiles.build", {"layer": layer, **params})


def queue_times(database: Engine, job_id: uuid.UUID) -> dict[str, Any]:
    """When the job's (latest) queue job was started, by procrastinate's own events."""
    with database.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT type::text, max(at) FROM procrastinate_events
                    WHERE job_id = (SELECT queue_job_id FROM job WHERE id = :j) GROUP BY type"""
            ),
            {"j": job_id},
        )
        return dict(rows.all())


def queue_status(database: Engine, job_id: uuid.UUID) -> str | None:
    with database.connect() as conn:
        return conn.execute(
            text(
                """SELECT pj.status::text FROM job JOIN procrastinate_jobs pj ON pj.id = job.queue_job_id
                    WHERE job.id = :j"""
            ),
            {"j": job_id},
        ).scalar()


def fresh_build_files(layer: str = "pipe_nodes") -> dict[str, str]:
    """The layer's files as an in-process build of the database as it is now writes them."""
    from tiles.build import build_layer, layer_dir

    shutil.rmtree(layer_dir(layer))
    build_layer(layer)
    return tileset_files(layer)


def test_builds_of_a_layer_submitted_back_to_back_never_overlap(many_nodes, workers, database):
    """Two workers; a build fanned out in parts, a write, a second build (and a third, equal to the waiting
    second: the same job). The second waits off the queue while the first's parts run on both workers, and
    starts only once the last part finished the first; the final tileset is a fresh build's, byte for byte."""
    from tiles.build import layer_dir

    shutil.rmtree(layer_dir("pipe_nodes"), ignore_errors=True)
    workers.start()
    workers.start()
    first = build(part_features=PART_FEATURES)
    with database.begin() as conn:  # a write after the first build was queued: the second must see it
        conn.execute(text("UPDATE pipe_node SET depth_m = 2.5 WHERE id IN ('TT-M7', 'TT-M7000', 'TT-M14000')"))
        conn.execute(text("DELETE FROM pipe_node WHERE id = 'TT-M100'"))
    second = build(part_features=PART_FEATURES)
    assert build(part_features=PART_FEATURES) == second  # coalesced: the second has read nothing yet
    samples: list[dict[str, Any]] = []

    def sample() -> dict | None:
        # the second's state read first: if it is on the queue, the first had ended before, as read after
        second_state, second_queue = job_row(database, second)["status"], queue_status(database, second)
        first_state, first_queue = job_row(database, first)["status"], queue_status(database, first)
        parts = parts_of(database, first)
        samples.append(
            {
                "first": first_state,
                "first_queue": first_queue,
                "parts": [(p["status"], p["result"] is not None) for p in parts],
                "second": second_state,
                "second_queue": second_queue,
            }
        )
        return ended(database, second)

    done = wait(sample, 900, "the second build", every=0.05)
    assert done["status"] == "succeeded", done["error"]
    assert job_row(database, first)["status"] == "succeeded"
    handed_on = [s for s in samples if s["first"] == "running" and s["first_queue"] == "succeeded"]
    assert handed_on, "sampled while the first's queue job had ended and its parts ran"
    assert all(s["second_queue"] is None for s in handed_on)  # meanwhile the second was not on the queue
    for s in samples:  # the second on the queue only once the first ended, all its parts done
        if s["second_queue"] is not None:
            assert s["first"] == "succeeded" and all(has_result for _, has_result in s["parts"]), s
    parts = parts_of(database, first)
    assert len(parts) >= 2 and len({p["worker_id"] for p in parts}) == 2  # the parts spread over both workers
    assert queue_times(database, second)["started"] >= job_row(database, first)["updated_at"]
    assert done["result"]["features"] == SIDE * SIDE - 1
    assert not any((layer_dir("pipe_nodes") / ".parts").iterdir())
    assert tileset_files("pipe_nodes") == fresh_build_files()


def test_builds_of_two_layers_run_at_once(a_pipe, workers, database):
    """Both on the queue at once (neither waits for the other), then run in time that overlaps: the pipe
    layer's starts on the second worker while the node layer's (in parts) runs."""
    nodes = build(part_features=PART_FEATURES)
    pipes = build("pipelines")
    assert job_row(database, nodes)["queue_job_id"] is not None and job_row(database, pipes)["queue_job_id"] is not None
    workers.start()
    workers.start()
    nodes_done = wait(lambda: ended(database, nodes), 600, "the node layer's build")
    pipes_done = wait(lambda: ended(database, pipes), 600, "the pipe layer's build")
    assert (nodes_done["status"], pipes_done["status"]) == ("succeeded", "succeeded"), (nodes_done, pipes_done)
    assert pipes_done["result"]["features"] == 1
    nodes_started, pipes_started = queue_times(database, nodes)["started"], queue_times(database, pipes)["started"]
    assert pipes_started < nodes_done["updated_at"] and nodes_started < pipes_done["updated_at"]


def test_a_failed_build_frees_its_layer(many_nodes, workers, database):
    failing = build(formats="gif")  # both queued before any worker runs: the second waits for the first
    behind = build()
    assert job_row(database, behind)["stage"] == f"waiting for job {failing}"
    workers.start()
    done = wait(lambda: ended(database, behind), 600, "the build behind the failing one")
    assert done["status"] == "succeeded", done["error"]
    failed = job_row(database, failing)
    assert failed["status"] == "failed" and failed["error"].startswith("unknown tile format gif")
    assert queue_times(database, behind)["started"] >= failed["updated_at"]


def test_a_build_lost_with_its_worker_runs_again_and_the_next_waits_for_it(many_nodes, workers, database):
    """The first worker is killed while it builds the layer: the other one's reaper queues the build again
    (its layer still held: the build behind it waits), runs it, then the one behind; the tileset is a fresh
    build's."""
    first_worker = workers.start()
    lost = build(part_features=10 * SIDE * SIDE)
    behind = build(formats="glb", part_features=10 * SIDE * SIDE + 1)  # not equal: not coalesced

    def running_on_first() -> bool:
        with database.connect() as conn:
            worker = conn.execute(
                text(
                    """SELECT pj.worker_id FROM job JOIN procrastinate_jobs pj ON pj.id = job.queue_job_id
                        WHERE job.id = :j AND job.status = 'running' AND pj.status = 'doing'"""
                ),
                {"j": lost},
            ).scalar()
        return worker == first_worker.worker_id

    wait(running_on_first, 300, "the build to run on the first worker")
    workers.kill(first_worker)
    workers.start()
    samples: list[tuple[str, int | None]] = []

    def sample() -> dict | None:
        queued = job_row(database, behind)["queue_job_id"]  # read first: if set, the lost one had ended before
        samples.append((job_row(database, lost)["status"], queued))
        return ended(database, behind)

    done = wait(sample, 900, "the build behind the lost one", every=0.05)
    assert done["status"] == "succeeded", done["error"]
    again = job_row(database, lost)
    assert again["status"] == "succeeded", again["error"]
    with database.connect() as conn:
        attempts = conn.execute(
            text("SELECT attempts FROM procrastinate_jobs WHERE id = :q"), {"q": again["queue_job_id"]}
        )
        assert attempts.scalar_one() == 2  # run a second time
    assert all(status == "succeeded" for status, queue_job in samples if queue_job is not None)  # the one behind waited
    assert queue_times(database, behind)["started"] >= again["updated_at"]
    assert tileset_files("pipe_nodes") == fresh_build_files()

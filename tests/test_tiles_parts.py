"""Tiling on the job queue: a large layer's build fanned out as parts that any worker runs, its tileset
and tiles the same as the in-process build's; the build's work in a process of its own, so the worker's
heartbeat stays fresh while it runs; a part lost with its worker is run again; a failed part fails its
layer's job. Real `cim worker` processes on a database and data dir of the module's own."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.fixtures_tiles import X0, Y0

ROOT = Path(__file__).resolve().parent.parent
SIDE = 120  # nodes on a side, 5 m apart: 14,400 nodes, more than two tiles' worth
PART_FEATURES = 4000  # so the layer is built in parts of at most this many features


@pytest.fixture(scope="module")
def database(database: Engine, server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """This module's own database and data dir, in place of the session's: the session's server runs a
    queue worker on the session's database, which would take these tests' jobs from the `cim worker`s."""
    from tests.conftest import migrated_database

    with migrated_database(server_url, "cim_parts", tmp_path_factory.mktemp("parts-data")) as engine:
        yield engine


@pytest.fixture
def many_nodes(database: Engine) -> Iterator[None]:
    """A 600 m square of valves under the tile rows' area (ids TT-M…), removed afterwards."""
    with database.begin() as conn:
        conn.execute(
            text(
                """INSERT INTO pipe_node (id, utility, kind, ground_h_orthometric, depth_m, is_open, geom)
                   SELECT 'TT-M' || i, 'water', 'valve', 5.0, 1.5, true,
                          ST_SetSRID(ST_MakePoint(:x + 5 * (i % :side), :y + 5 * (i / :side), 3.5), 4549)
                     FROM generate_series(0, :side * :side - 1) AS i"""
            ),
            {"x": X0 - 2000, "y": Y0 - 2000, "side": SIDE},
        )
    yield
    with database.begin() as conn:
        conn.execute(text("DELETE FROM pipe_node WHERE id LIKE 'TT-M%'"))


class Workers:
    """`cim worker` processes, each in a process group of its own (a kill takes its children too)."""

    def __init__(self, database: Engine) -> None:
        from core.settings import get_settings

        self.database = database
        self.env = {**os.environ, **get_settings().environment()}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        with self.database.connect() as conn:
            before = conn.execute(text("SELECT coalesce(max(id), 0) FROM procrastinate_workers")).scalar_one()
        process = subprocess.Popen(
            [sys.executable, "-m", "spatial_api.cli", "worker"],
            cwd=ROOT, env=self.env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.processes.append(process)
        query = text("SELECT max(id) FROM procrastinate_workers WHERE id > :b")
        process.worker_id = wait(lambda: self._scalar(query, b=before), 120, "a worker to start")  # type: ignore[attr-defined]
        return process

    def _scalar(self, query, **params):
        with self.database.connect() as conn:
            return conn.execute(query, params).scalar()

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(database: Engine) -> Iterator[Workers]:
    from spatial_api import tasks  # noqa: F401 - registers the tasks jobs.submit knows

    running = Workers(database)
    yield running
    running.stop()


def wait(condition: Callable[[], object], seconds: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(every)
    return value


def job_row(database: Engine, job_id: uuid.UUID) -> dict:
    with database.connect() as conn:
        return dict(conn.execute(text("SELECT * FROM job WHERE id = :i"), {"i": job_id}).mappings().one())


def ended(database: Engine, job_id: uuid.UUID) -> dict | None:
    row = job_row(database, job_id)
    return row if row["status"] in ("succeeded", "failed") else None


def parts_of(database: Engine, job_id: uuid.UUID) -> list[dict]:
    with database.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT job.*, pj.attempts, pj.worker_id FROM job LEFT JOIN procrastinate_jobs pj
                     ON pj.id = job.queue_job_id WHERE parent_id = :p ORDER BY job.params->>'part'"""
            ),
            {"p": job_id},
        )
        return [dict(r) for r in rows.mappings()]


def tileset_files(layer: str) -> dict[str, str]:
    """Every file of a layer's tileset (tileset JSON, manifest, tiles) by path, as its SHA-256."""
    from tiles.build import layer_dir

    folder = layer_dir(layer)
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def manifest_leaves(files: dict[str, str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """Each leaf of the node layer's manifest: the hash of its input and its feature ids."""
    from tiles.build import layer_dir

    leaves = json.loads((layer_dir("pipe_nodes") / "manifest.json").read_text())["leaves"]
    return {key: (leaf["hash"], leaf["ids"]) for key, leaf in leaves.items()}


@dataclass
class Reference:
    files: dict[str, str]  # every file by path, as its SHA-256
    leaves: dict[str, tuple[str, list[str]]]  # the manifest's leaves: input hash and feature ids


@pytest.fixture
def reference(many_nodes, database) -> Reference:
    """The in-process build of the node layer (the one to compare with), the layer's folder then emptied."""
    from tiles.build import build_layer, layer_dir

    shutil.rmtree(layer_dir("pipe_nodes"), ignore_errors=True)
    summary = build_layer("pipe_nodes")
    with database.connect() as conn:
        assert summary["features"] == conn.execute(text("SELECT count(*) FROM pipe_node")).scalar_one()
    assert summary["tiles"] >= 3
    built = Reference(tileset_files("pipe_nodes"), manifest_leaves())
    shutil.rmtree(layer_dir("pipe_nodes"))
    return built


def submit_build() -> uuid.UUID:
    from core import jobs

    return jobs.submit("tiles.build", {"layer": "pipe_nodes", "part_features": PART_FEATURES})


def test_a_large_layer_is_built_in_parts_the_same_as_in_one_process(reference, workers, database):
    from tiles.build import layer_dir

    workers.start()
    workers.start()
    job_id = submit_build()
    stages = set()

    def done() -> dict | None:
        stages.add(job_row(database, job_id)["stage"])
        return ended(database, job_id)

    job = wait(done, 600, "the layer's job")
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["parts"] >= 2

    def parts_ended() -> list[dict]:  # the last part ends just after it finished the layer's job
        parts = parts_of(database, job_id)
        return parts if all(p["status"] in ("succeeded", "failed") for p in parts) else []

    parts = wait(parts_ended, 60, "the parts")
    assert job["result"]["parts"] == len(parts)
    assert all(p["status"] == "succeeded" for p in parts)
    assert sum(p["result"]["tiles"] for p in parts) == job["result"]["tiles"]
    assert any(stage.endswith(f"of {len(parts)} parts done") for stage in stages), stages  # its progress
    assert tileset_files("pipe_nodes") == reference.files  # same tileset JSON, manifest and tiles, byte for byte
    assert not (layer_dir("pipe_nodes") / ".parts").exists() or not any((layer_dir("pipe_nodes") / ".parts").iterdir())

    # a rebuild after one node moved writes that node's tile alone
    manifest = json.loads((layer_dir("pipe_nodes") / "manifest.json").read_text())
    [holder] = [key for key, leaf in manifest["leaves"].items() if "TT-M77" in leaf["ids"]]
    with database.begin() as conn:
        conn.execute(text("UPDATE pipe_node SET depth_m = 2.0 WHERE id = 'TT-M77'"))
    before = tileset_files("pipe_nodes")
    again = wait(lambda: ended(database, rebuild), 600, "the rebuild") if (rebuild := submit_build()) else None
    assert again is not None and again["status"] == "succeeded", again
    assert again["result"]["tiles_written"] == 1
    changed = {path for path, digest in tileset_files("pipe_nodes").items() if before.get(path) != digest}
    assert changed == {f"t/{holder}.glb", "manifest.json", "tileset.json"}


def _descendants(pid: int) -> list[tuple[int, str]]:
    """The processes under ``pid`` (its children, theirs...), with their command lines."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                try:
                    command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                found.append((child, command))
                todo.append(child)
    return found


def test_a_build_runs_in_a_process_of_its_own_and_the_heartbeat_stays_fresh(many_nodes, workers, database):
    """The layer's job (built by its worker alone: parts of more than the layer) runs in a spawned
    process, which forks its mesh pool; the worker's heartbeat never misses a beat meanwhile. On a
    worker that ran it in its job thread (no process of its own, no mesh pool) a large layer's long
    native calls starved the event loop: heartbeats stopped and the running job was reaped as lost."""
    from core import jobs
    from core.jobs import HEARTBEAT_S
    from tiles.build import WORKERS

    worker = workers.start()
    job_id = jobs.submit("tiles.build", {"layer": "pipe_nodes", "part_features": 10 * SIDE * SIDE})
    ages: list[float] = []
    processes: list[list[tuple[int, str]]] = []
    heartbeat = text(
        """SELECT extract(epoch FROM now() - w.last_heartbeat) FROM procrastinate_jobs pj
             JOIN procrastinate_workers w ON w.id = pj.worker_id JOIN job ON job.queue_job_id = pj.id
            WHERE job.id = :j AND pj.status = 'doing'"""
    )

    def sample() -> dict | None:
        with database.connect() as conn:
            age = conn.execute(heartbeat, {"j": job_id}).scalar()
        if age is not None:
            ages.append(float(age))
            processes.append([pid for pid, command in _descendants(worker.pid) if "multiprocessing.spawn" in command])
        return ended(database, job_id)

    job = wait(sample, 600, "the layer's job", every=0.05)
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["tiles"] >= 4 and "parts" not in job["result"]
    assert len(ages) >= 10, "sampled while it ran"
    assert max(ages) < HEARTBEAT_S + 1.5, ages
    assert any(processes), "the build ran in a spawned process"
    if WORKERS > 1 and job["result"]["tiles"] >= 2 * WORKERS:
        assert max(map(len, processes)) >= 1 + WORKERS, "which forked its mesh pool"


def test_a_part_lost_with_its_worker_is_run_again_and_the_layer_completes(reference, workers, database):
    """The same files, byte for byte, as the in-process build. (The rerun's fresh worker once wrote some
    leaves' frames tens of metres too low: its forked mesh processes read the geoid grid through one shared
    open file; gis.crs now makes transformers anew in a forked process.)"""
    first = workers.start()
    job_id = submit_build()

    def running_on_first() -> list[dict]:
        return [p for p in parts_of(database, job_id) if p["status"] == "running" and p["worker_id"] == first.worker_id]

    [lost, *_] = wait(running_on_first, 600, "a part running on the first worker")
    workers.kill(first)  # its host is gone: no heartbeat from now on, its processes killed
    workers.start()  # whose reaper finds the lost part and queues it again
    job = wait(lambda: ended(database, job_id), 600, "the layer's job")
    assert job["status"] == "succeeded", job["error"]
    again = {p["id"]: p for p in parts_of(database, job_id)}[lost["id"]]
    assert again["status"] == "succeeded" and again["attempts"] == 2
    assert manifest_leaves() == reference.leaves  # the same leaves, input and features
    assert tileset_files("pipe_nodes") == reference.files  # and the same bytes


def test_a_failed_part_fails_its_layer_job_with_the_reason(many_nodes, workers, database):
    """A part whose input is missing (its layer's job never wrote it) fails, and so does the layer's
    job, with the part's reason, not left running."""
    from core import jobs

    job_id = jobs.submit("tiles.build", {"layer": "pipe_nodes"}, hold=True)  # recorded, not queued
    jobs.fan_out(str(job_id), "tiles.part", [{"layer": "pipe_nodes", "build": str(job_id), "part": 0}])
    workers.start()
    job = wait(lambda: ended(database, job_id), 300, "the layer's job")
    [part] = parts_of(database, job_id)
    assert part["status"] == "failed" and "FileNotFoundError" in part["error"]
    assert job["status"] == "failed"
    assert job["error"].startswith(f"a part of this job failed (job {part['id']}): internal error: FileNotFoundError")

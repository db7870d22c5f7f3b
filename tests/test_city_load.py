"""Loading the sample city into a database of its own: speed, and a reload that keeps BIM models'
projects. (A separate database, so the session's 400-building city stays as other tests expect it.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import ROOT, create_database, drop_database

SPEED_BUILDINGS = 5000
MIN_BUILDINGS_PER_S = 400  # ~1,600-2,100 measured; ORM add_all of the same rows would give ~200 (bench/city)
LOAD = (
    "import json, time; from sample_models.load import load_sample_city; t = time.perf_counter(); "
    "counts = load_sample_city({buildings}, {seed}); "
    "print(json.dumps({{'counts': counts, 'seconds': time.perf_counter() - t}}))"
)


@pytest.fixture(scope="module")
def own_database(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict]]:
    """A fresh migrated database, its engine, and the environment that points a process at it (a process of
    its own loads the city, so nothing of this session's engines, settings or workers is touched)."""
    from core import migrate

    name = f"cim_test_city_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    engine = create_engine(url)
    env = {**os.environ, "DATABASE_URL": url, "CIM_DATA_DIR": str(tmp_path_factory.mktemp("city-load"))}
    try:
        migrate.upgrade(engine)
        yield engine, env
    finally:
        engine.dispose()
        drop_database(server_url, name)


def _load(env: dict, buildings: int, seed: int) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", LOAD.format(buildings=buildings, seed=seed)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_loading_is_fast_enough(own_database):
    engine, env = own_database
    result = _load(env, SPEED_BUILDINGS, seed=5)
    rate = SPEED_BUILDINGS / result["seconds"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM building")).scalar_one() == SPEED_BUILDINGS
        assert conn.execute(text("SELECT count(*) FROM house_unit")).scalar_one() == result["counts"]["house_unit"]
    assert rate > MIN_BUILDINGS_PER_S, f"{rate:.0f} buildings/s"


def test_reload_keeps_bim_models_and_their_projects(own_database):
    engine, env = own_database
    _load(env, 200, seed=1)
    with engine.begin() as conn:
        code = conn.execute(text("SELECT code FROM project WHERE type = 'building' ORDER BY code LIMIT 1")).scalar_one()
        conn.execute(text("INSERT INTO bim_model (project_code, name) VALUES (:c, 'tower.ifc')"), {"c": code})
    counts = _load(env, 150, seed=2)["counts"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT project_code FROM bim_model WHERE name = 'tower.ifc'")).scalar_one() == code
        assert conn.execute(text("SELECT count(*) FROM project WHERE code = :c"), {"c": code}).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM building")).scalar_one() == 150
        projects = conn.execute(text("SELECT count(*) FROM project")).scalar_one()
        # the kept project comes on top of the new city's own, unless the new city has the same code
        assert projects in (counts["project"], counts["project"] + 1)
        # the checks set aside for the load are back: foreign keys, and the references kept by triggers
        # into the tables partitioned by city (migration 0022), enabled
        foreign_keys = conn.execute(
            text("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = 'building'")
        ).scalar_one()
        assert foreign_keys == 3
        references = conn.execute(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'house_unit'::regclass"
                " AND tgname LIKE 'city_reference%' AND tgenabled = 'O'"
            )
        ).scalar_one()
        assert references == 2

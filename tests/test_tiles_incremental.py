"""Incremental rebuilds: editing a pipe or adding a BIM model rewrites only the tiles they touch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.fixtures_tiles import X0, Y0, _box_tin, insert_bim_version


def _file_hashes(layer_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (layer_dir / "t").glob("*.glb")}


@pytest.fixture
def small_tiles(monkeypatch):
    import tiles.build

    monkeypatch.setattr(tiles.build, "MAX_TILE_FEATURES", 3)


@pytest.fixture
def spread_pipes(tile_rows, database):
    """Thirty more pipes on a 1.5 km grid, so the layer has many tiles."""
    with database.begin() as conn:
        for k in range(30):
            x, y = X0 + 300 * (k % 6) - 800, Y0 + 300 * (k // 6) + 200
            conn.execute(
                text(
                    """INSERT INTO pipeline (id, utility, diameter_mm, depth_m, depth_ref, status, geom)
                       VALUES (:i, 'drain', 600, 1.5, 'top', 'in_service',
                               ST_GeomFromText(:w, 4549))"""
                ),
                {"i": f"TT-G{k:02d}", "w": f"LINESTRING Z ({x} {y} 2, {x + 40} {y + 5} 1.9)"},
            )
    yield
    with database.begin() as conn:
        conn.execute(text("DELETE FROM pipeline WHERE id LIKE 'TT-G%'"))


def test_editing_a_pipe_rewrites_only_its_tile(small_tiles, spread_pipes, database):
    from tiles.build import build_layer, layer_dir

    first = build_layer("pipelines")
    assert first["tiles"] >= 8
    before = _file_hashes(layer_dir("pipelines"))
    manifest = json.loads((layer_dir("pipelines") / "manifest.json").read_text())
    holder = [key for key, leaf in manifest["leaves"].items() if "TT-G07" in leaf["ids"]]
    assert len(holder) == 1

    with database.begin() as conn:
        conn.execute(text("UPDATE pipeline SET diameter_mm = 800 WHERE id = 'TT-G07'"))
    second = build_layer("pipelines")
    after = _file_hashes(layer_dir("pipelines"))

    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {f"{holder[0]}.glb"}
    assert second["tiles_written"] == 1
    assert second["tiles_reused"] == first["tiles"] - 1
    assert second["seconds"] < first["seconds"] * 2  # a rebuild is no dearer than a first build


def test_adding_a_bim_model_rewrites_only_the_tiles_it_touches(small_tiles, tile_rows, database):
    from tiles.build import build_layer, layer_dir

    with database.begin() as conn:
        far = insert_bim_version(
            conn,
            "TT-far",
            1,
            "published",
            [
                (f"TTFAR{k:017d}", "IfcColumn", _box_tin(X0 - 3000 + 40 * k, Y0 + 2000, 4, (0.5, 0.5, 3)))
                for k in range(9)
            ],
        )
    build_layer("bim_elements")
    before = _file_hashes(layer_dir("bim_elements"))
    with database.begin() as conn:
        added = insert_bim_version(
            conn,
            "TT-new",
            1,
            "published",
            [(f"TTNEW{k:017d}", "IfcBeam", _box_tin(X0 + 2500, Y0 - 2500 + 3 * k, 4, (2, 0.3, 0.5))) for k in range(2)],
        )
    second = build_layer("bim_elements")
    after = _file_hashes(layer_dir("bim_elements"))
    manifest = json.loads((layer_dir("bim_elements") / "manifest.json").read_text())
    touched = {
        f"{key}.glb" for key, leaf in manifest["leaves"].items() if any(i.startswith("TTNEW") for i in leaf["ids"])
    }
    assert touched
    assert {name for name in after if before.get(name) != after[name]} == touched
    assert set(before) <= set(after)
    assert second["tiles_written"] == len(touched)
    assert second["tiles_reused"] == second["tiles"] - len(touched)
    with database.begin() as conn:
        conn.execute(text("DELETE FROM bim_model_version WHERE id IN (:a, :b)"), {"a": far, "b": added})

"""Every tiled layer of the registry builds on a database with no rows: a tileset that says it holds no
features (a new city's pipelines before their import), not an error."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import migrated_database


def test_every_layer_builds_empty(server_url: str, tmp_path: Path) -> None:
    from tiles import sources
    from tiles.build import build_layer, layer_dir

    with migrated_database(server_url, "cim_empty_tiles", tmp_path):
        layers = sources.names()
        assert {"buildings", "pipelines", "pipe_nodes"} <= set(layers)
        for layer in layers:
            summary = build_layer(layer)
            assert summary["features"] == 0, layer
            tileset = json.loads((layer_dir(layer) / "tileset.json").read_text())
            assert tileset["asset"]["version"] == "1.1", layer
            assert "content" not in tileset["root"] and not tileset["root"].get("children"), layer

"""Serving tiles over HTTP: ETag, 304, Cache-Control, gzip, media types, path checks, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def pipes_built(tile_rows):
    from tiles.build import build_layer

    return build_layer("pipelines")


def test_tileset_served_with_etag_cache_control_and_gzip(client, pipes_built):
    response = client.get("/api/v1/tiles/pipelines/tileset.json", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers.get("content-encoding") == "gzip"
    tileset = response.json()
    assert tileset["asset"]["version"] == "1.1"
    etag = response.headers["etag"]
    again = client.get("/api/v1/tiles/pipelines/tileset.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content


def test_content_served_as_glb(client, pipes_built):
    tileset = client.get("/api/v1/tiles/pipelines/tileset.json").json()
    tile = tileset["root"]
    while "content" not in tile:
        tile = tile["children"][0]
    response = client.get(f"/api/v1/tiles/pipelines/{tile['content']['uri']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "model/gltf-binary"
    assert response.content[:4] == b"glTF"
    assert "max-age" in response.headers["cache-control"]


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/v1/tiles/pipelines/../../../etc/passwd", 404),
        ("/api/v1/tiles/pipelines/t/..%2F..%2Fmanifest.json", 400),
        ("/api/v1/tiles/pipelines/t/%2e%2e/%2e%2e/x.json", 400),
        ("/api/v1/tiles/..%2Fpipelines/tileset.json", 404),
        ("/api/v1/tiles/no-such-layer/tileset.json", 404),
        ("/api/v1/tiles/pipelines/t/9_9_9.glb", 404),
        ("/api/v1/tiles/pipelines/t/evil.sh", 400),
    ],
)
def test_paths_are_checked(client, pipes_built, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json") or status == 404


def test_missing_tileset_says_how_to_build_it(client):
    response = client.get("/api/v1/tiles/bim-999999/tileset.json")
    assert response.status_code == 404
    assert "cim tiles build bim-999999" in response.text


def test_cli_builds_a_layer_as_json(tile_rows, database):
    result = subprocess.run(
        [sys.executable, "-c", "from spatial_api.cli import main; main()", "tiles", "build", "pipe_nodes", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(result.stdout)
    assert summary["layer"] == "pipe_nodes" and summary["features"] >= 4 and summary["tiles"] >= 1
    bad = subprocess.run(
        [sys.executable, "-c", "from spatial_api.cli import main; main()", "tiles", "build", "roads"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown tile layer")

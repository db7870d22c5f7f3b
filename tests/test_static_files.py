"""The vendored CesiumJS served from its gzip siblings (made by npm's postinstall), with working
revalidation, and as it is to clients that do not accept gzip; the viewer's own bundle (`make ui`) too."""

from __future__ import annotations

import pytest

from spatial_api.app import CESIUM_DIR, VIEWER_DIR

CESIUM_JS = CESIUM_DIR / "Cesium.js"


@pytest.fixture(scope="module")
def cesium_js() -> bytes:
    if not (CESIUM_DIR / "Cesium.js.gz").is_file():
        pytest.skip("CesiumJS is not vendored with its .gz siblings: run `make npm`")
    return CESIUM_JS.read_bytes()


def test_cesium_is_sent_gzip_encoded_from_its_sibling(client, cesium_js):
    response = client.get("/vendor/cesium/Cesium.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == (CESIUM_DIR / "Cesium.js.gz").stat().st_size
    assert response.headers["content-type"].startswith("text/javascript")
    assert "Accept-Encoding" in response.headers["vary"]
    assert response.content == cesium_js  # httpx decodes the gzip body


def test_a_revalidation_of_the_gzip_file_answers_304(client, cesium_js):
    first = client.get("/vendor/cesium/Cesium.js", headers={"Accept-Encoding": "gzip"})
    again = client.get(
        "/vendor/cesium/Cesium.js", headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""


def test_clients_refusing_gzip_get_the_file_as_it_is(client, cesium_js):
    response = client.get("/vendor/cesium/Cesium.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content == cesium_js


def test_the_viewers_own_bundle_is_smaller_and_sent_gzip_encoded(ui_bundle, client, cesium_js):
    bundle = VIEWER_DIR / "ui" / "dist-cesium" / "Cesium.js"
    response = client.get("/vendor/cesium-viewer/Cesium.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == bundle.with_suffix(".js.gz").stat().st_size
    assert response.content == bundle.read_bytes()
    assert bundle.with_suffix(".js.gz").stat().st_size < (CESIUM_DIR / "Cesium.js.gz").stat().st_size

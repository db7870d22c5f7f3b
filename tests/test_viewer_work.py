"""The viewer as a place to work (issue 17), in Debian's headless Chromium (playwright-core, driver
tests/e2e/work.mjs) against `cim serve` on the sample city, with every request to a host other than
127.0.0.1 aborted: the API docs, navigation and share links, coordinates in the search box,
measuring and section cutting, results that stay, record cards. Expected answers come from the
database by SQL, from pyproj and from the OpenAPI document, not from the viewer's code.
Screenshots land in test-artifacts/work-*.png."""

from __future__ import annotations

import json
import urllib.request

import pytest

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options"}


def step(report: dict, name: str) -> dict:
    answer = report["steps"][name]
    assert "error" not in answer, f"step {name} failed: {answer}"
    return answer


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def docs(run_e2e, city_server) -> dict:
    return run_e2e(city_server, ["docs", "redoc"], script="work.mjs")


def test_docs_and_redoc_render_offline_every_operation(docs, city_server):
    document = get_json(f"{city_server}openapi.json")
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS
    }
    ids = {item[m]["operationId"] for item in document["paths"].values() for m in item if m in HTTP_METHODS}
    swagger = step(docs, "docs")
    assert document["info"]["title"] in swagger["title"]
    assert {tuple(op) for op in swagger["operations"]} == operations
    redoc = step(docs, "redoc")
    assert document["info"]["title"] in redoc["title"]
    assert set(redoc["sections"]) == ids
    # nothing reached another host (the driver aborts and lists such requests); ReDoc's sidebar
    # always asks cdn.redoc.ly for its logo, which the server's Content-Security-Policy refuses
    # before any request goes out; nothing else failed
    assert docs["outside"] == []
    assert [f for f in docs["failed"] if not f.endswith(" csp")] == [], docs["failed"]
    assert all("cdn.redoc.ly" in f for f in docs["failed"])
    assert [e for e in docs["console_errors"] if "cdn.redoc.ly" not in e] == []
    assert any("/vendor/swagger-ui/swagger-ui-bundle.js" in u for u in docs["requests"])
    assert any("/vendor/redoc/redoc.standalone.js" in u for u in docs["requests"])

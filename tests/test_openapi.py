"""The API description: OpenAPI 3.0 as the landing page and the conformance classes say, valid by
the OpenAPI 3.0 schema, every JSON answer described by a model, binary answers by their media type."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from spatial_api.openapi import to_3_0

API = "/api/v1"
OAS30 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"
# answered by the layer registry's routers (features, MVT, layers), described there
REGISTRY_PATHS = ("/api/v1/collections", "/api/v1/mvt", "/api/v1/layers", "/api/v1/conformance")


@pytest.fixture(scope="module")
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_description_is_the_openapi_version_the_landing_page_declares(client, document):
    landing = client.get(f"{API}/").json()
    service_desc = next(link for link in landing["links"] if link["rel"] == "service-desc")
    declared = service_desc["type"].split("version=")[1]
    assert OAS30 in client.get(f"{API}/conformance").json()["conformsTo"]
    assert declared == "3.0"
    assert document["openapi"].split(".")[:2] == ["3", "0"]
    validate(document)  # the OpenAPI 3.0 schema, the 3.0 rules for Schema Objects included


def test_without_the_rewrite_the_document_is_no_valid_3_0(client):
    """FastAPI's own document (3.1) merely relabelled fails: the rewrite is what makes it 3.0."""
    from fastapi.openapi.utils import get_openapi

    raw = get_openapi(title="x", version="1", routes=client.app.routes) | {"openapi": "3.0.3"}
    with pytest.raises(OpenAPIValidationError):
        validate(raw)


def test_3_1_schema_constructs_become_3_0():
    ref = {"$ref": "#/components/schemas/Version"}
    schema = {
        "type": "object",
        "properties": {
            "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Name"},
            "latest": {"anyOf": [ref, {"type": "null"}], "description": "newest"},
            "kind": {"const": "ingest"},
            "size": {"type": ["integer", "null"], "exclusiveMinimum": 0},
            "file": {"type": "string", "contentMediaType": "application/octet-stream"},
            "tags": {"type": "array", "items": {"type": "string", "examples": ["a", "b"]}},
        },
    }
    out = to_3_0({"components": {"schemas": {"Model": schema}}})["components"]["schemas"]["Model"]["properties"]
    assert out["name"] == {"type": "string", "title": "Name", "nullable": True}
    assert out["latest"] == {"allOf": [ref], "description": "newest", "nullable": True}
    assert out["kind"] == {"enum": ["ingest"]}
    assert out["size"] == {"type": "integer", "nullable": True, "minimum": 0, "exclusiveMinimum": True}
    assert out["file"] == {"type": "string", "format": "binary"}
    assert out["tags"] == {"type": "array", "items": {"type": "string", "example": "a"}}


def _success(operation: dict) -> dict:
    """The operation's success answer; a 204 has no body to describe."""
    return next(response for code, response in operation["responses"].items() if code.startswith("2"))


def test_every_json_answer_has_a_model(document):
    undescribed = []
    for path, operations in document["paths"].items():
        if path.startswith(REGISTRY_PATHS) or path in (f"{API}/", f"{API}"):
            continue
        for method, operation in operations.items():
            if "204" in operation["responses"] or not any(c.startswith("2") for c in operation["responses"]):
                continue  # No Content, or a redirect: nothing to describe
            content = _success(operation).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if "application/json" in content and path.endswith("tileset.json"):
                continue  # a 3D Tiles tileset, the file as the tiler wrote it
            if schema is None:
                if not content or "application/json" in content:
                    undescribed.append(f"{method.upper()} {path}")
                continue
            target = schema.get("items", schema)
            if "$ref" not in target:
                undescribed.append(f"{method.upper()} {path}")
    assert undescribed == []


@pytest.mark.parametrize(
    ("path", "method", "media_type"),
    [
        ("/api/v1/tiles/{layer}/{path}", "get", "model/gltf-binary"),
        ("/api/v1/reviews/{review_id}/report.bcf", "get", "application/zip"),
        ("/api/v1/terrain/heights", "get", "application/octet-stream"),
        ("/api/v1/reviews/{review_id}/report.html", "get", "text/html"),
    ],
)
def test_binary_answers_declare_their_media_type(document, path, method, media_type):
    content = _success(document["paths"][path][method])["content"]
    assert media_type in content
    if media_type != "text/html":
        assert content[media_type]["schema"] == {"type": "string", "format": "binary"}


def test_answer_schemas_name_their_fields(document):
    """The models say what the answers hold (a few fields checked against the code that writes them)."""
    schemas = document["components"]["schemas"]
    assert {"status", "postgis", "counts"} <= set(schemas["Health"]["properties"])
    assert {"version_id", "version_no", "status", "schema", "tileset"} <= set(schemas["Version"]["properties"])
    assert schemas["Version"]["properties"]["tileset"].get("nullable") is True
    assert {"id", "status", "status_label", "report", "issues"} <= set(schemas["Review"]["properties"])
    assert {"values", "legend", "unknown"} <= set(schemas["Thematic"]["properties"])

"""The API description as OpenAPI 3.0, the version the landing page links and the conformance class
``ogcapi-features-1/1.0/conf/oas30`` names (OGC API Features 1.0 defines no class for 3.1).

FastAPI writes OpenAPI 3.1, whose schemas are JSON Schema 2020-12; the few constructs it uses that
3.0 lacks are rewritten to their 3.0 equivalents: ``null`` in a union becomes ``nullable``,
``const`` a one-value ``enum``, a list of ``examples`` one ``example``, numeric exclusive bounds
boolean ones, a file's ``contentMediaType`` the ``binary`` format, and a tuple's ``prefixItems``
the ``items`` its positions may hold (3.0 cannot say which position holds which); a map's
``propertyNames`` (which 3.0 cannot say) is left out."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

OPENAPI_VERSION = "3.0.3"
NULL = {"type": "null"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` (and ``type: [t, null]``) as X with ``nullable: true``."""
    options = schema.get("anyOf")
    if isinstance(options, list) and NULL in options:
        rest = [option for option in options if option != NULL]
        siblings = {k: v for k, v in schema.items() if k != "anyOf"}
        if len(rest) == 1 and "$ref" not in rest[0]:
            return {**rest[0], **siblings, "nullable": True}
        # a $ref ignores its siblings in 3.0: wrap it
        return {**siblings, ("allOf" if len(rest) == 1 else "anyOf"): rest, "nullable": True}
    kinds = schema.get("type")
    if isinstance(kinds, list):
        rest = [kind for kind in kinds if kind != "null"]
        schema = {**schema, "type": rest[0] if len(rest) == 1 else rest}
        if len(rest) < len(kinds):
            schema["nullable"] = True
    return schema


def _schema_3_0(schema: dict[str, Any]) -> dict[str, Any]:
    schema = _nullable(schema)
    if "const" in schema:
        schema = {**{k: v for k, v in schema.items() if k != "const"}, "enum": [schema["const"]]}
    if isinstance(schema.get("examples"), list):
        examples = schema.pop("examples")
        if examples:
            schema["example"] = examples[0]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = schema.get(bound)
        if isinstance(value, int | float) and not isinstance(value, bool):
            schema[inclusive], schema[bound] = value, True
    if "contentMediaType" in schema and schema.get("type") == "string":
        schema.pop("contentMediaType")
        schema.pop("contentEncoding", None)
        schema["format"] = "binary"
    schema.pop("propertyNames", None)
    positions = schema.pop("prefixItems", None)
    if isinstance(positions, list) and positions:
        distinct = [p for i, p in enumerate(positions) if p not in positions[:i]]
        schema["items"] = distinct[0] if len(distinct) == 1 else {"anyOf": distinct}
    return schema


def to_3_0(node: Any, in_schema: bool = False) -> Any:
    """``node`` of an OpenAPI 3.1 document written as OpenAPI 3.0. Schemas are the values under
    ``schema``/``schemas``/``properties``/``items``... keys; everything else is copied as it is."""
    if isinstance(node, list):
        return [to_3_0(item, in_schema) for item in node]
    if not isinstance(node, dict):
        return node
    if in_schema:
        node = _schema_3_0(node)
    out = {}
    for key, value in node.items():
        if key in ("schema", "items", "additionalProperties", "not"):
            out[key] = to_3_0(value, True)
        elif key in ("properties", "schemas") or (key == "patternProperties" and in_schema):
            out[key] = {name: to_3_0(item, True) for name, item in value.items()} if isinstance(value, dict) else value
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = to_3_0(value, True)
        elif in_schema and key in ("example", "default", "enum"):
            out[key] = value
        else:
            out[key] = to_3_0(value, False)
    return out


def install(app: FastAPI) -> None:
    """Serve the app's description as OpenAPI 3.0 (built once, at the first request for it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes, description=app.description)
            app.openapi_schema = to_3_0(document) | {"openapi": OPENAPI_VERSION}
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

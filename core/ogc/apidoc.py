"""The OGC API definition (the landing page's ``service-desc``): the features paths of the
application's OpenAPI 3.0 document, relative to the landing page, with one items path per
collection whose query parameters name its properties (Part 1, /rec/core/fc-filters). GIS clients
read it to learn what they may send: GDAL passes an attribute filter to the server only for the
properties it finds there, as CQL text when ``filter-lang`` offers ``cql-text``."""

from __future__ import annotations

import copy
import json
from typing import Any

from core.registry import Layer, registry

_TYPES = {
    "text": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "date": "string",
    "datetime": "string",
}


def _property_parameter(prop: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _TYPES[prop.type]}
    if prop.type in ("date", "datetime"):
        schema["format"] = "date" if prop.type == "date" else "date-time"
    return {
        "name": prop.name,
        "in": "query",
        "required": False,
        "description": f"{prop.label.zh} ({prop.label.en}): features whose {prop.name} equals this",
        "schema": schema,
    }


def _for_collection(operation: dict[str, Any], layer: Layer) -> dict[str, Any]:
    """An items operation of one collection: the path parameter gone, its properties added."""
    done = copy.deepcopy(operation)
    done["operationId"] = f"{done.get('operationId', 'items')}_{layer.name}"
    done["summary"] = f"{layer.title.zh} {layer.title.en}"
    kept = [
        p for p in done.get("parameters", []) if p.get("in") != "path" and p.get("name") not in layer.property_types
    ]
    done["parameters"] = kept + [_property_parameter(p) for p in layer.properties]
    return done


def definition(document: dict[str, Any], prefix: str, server: str) -> dict[str, Any]:
    """The features part of ``document`` (paths under ``prefix``) relative to ``server``, with the
    generic item paths written out per collection of the registry."""
    paths: dict[str, Any] = {}
    collections = f"{prefix}/collections"
    for path, item in document["paths"].items():
        if not (path.startswith(collections) or path in (prefix, f"{prefix}/", f"{prefix}/conformance")):
            continue
        relative = path[len(prefix) :] or "/"
        if relative.startswith("/collections/{collection_id}/items"):
            for layer in registry().layers:
                concrete = relative.replace("{collection_id}", layer.name)
                paths[concrete] = {
                    method: _for_collection(op, layer)
                    if method == "get" and relative.endswith("/items")
                    else _strip(op, layer)
                    for method, op in item.items()
                }
        else:
            paths[relative.replace("{collection_id}", "{collectionId}")] = json.loads(
                json.dumps(item).replace('"collection_id"', '"collectionId"')
            )
    return {
        "openapi": document["openapi"],
        "info": {**document["info"], "title": f"{document['info']['title']}: OGC API Features"},
        "servers": [{"url": server}],
        "paths": paths,
        "components": document.get("components", {}),
    }


def _strip(operation: dict[str, Any], layer: Layer) -> dict[str, Any]:
    """An operation on one collection's items: the collection path parameter gone."""
    done = copy.deepcopy(operation)
    done["operationId"] = f"{done.get('operationId', 'item')}_{layer.name}"
    done["parameters"] = [p for p in done.get("parameters", []) if p.get("name") != "collection_id"]
    return done

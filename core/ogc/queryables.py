"""A collection's queryables (OGC API Features Part 3) as JSON Schema, from the registry: each
property with its type, its Chinese title and English description."""

from __future__ import annotations

from typing import Any

from core.ogc.cql2 import GEOMETRY
from core.registry import Layer

_TYPES: dict[str, dict[str, str]] = {
    "text": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
}


def schema(layer: Layer, url: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the properties a filter or sortby may name."""
    properties: dict[str, Any] = {
        GEOMETRY: {
            "title": "几何",
            "description": "Geometry",
            "format": "geometry-any",
            "x-ogc-role": "primary-geometry",
        }
    }
    for prop in layer.properties:
        entry: dict[str, Any] = {"title": prop.label.zh, "description": prop.label.en, **_TYPES[prop.type]}
        if prop.name == layer.id_column:
            entry["x-ogc-role"] = "id"
        properties[prop.name] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url,
        "type": "object",
        "title": layer.title.zh,
        "description": layer.title.en,
        "properties": properties,
        "additionalProperties": False,
    }

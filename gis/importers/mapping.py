"""Attribute mappings: which source field feeds which column, in which unit, with which value codes.

A mapping file (JSON) holds one section per layer::

    {"pipelines": {"fields": {"管径": {"to": "diameter_mm", "unit": "mm"}, "材质": "material"},
                   "values": {"utility": {"给水": "water", "JS": "water"}}}}

Source names match case-insensitively; when several sources feed one target the first non-empty wins.
Lengths convert from the source unit to the target's (``*_mm`` in millimetres, ``*_m`` in metres).
Bundled mappings live in ``gis/mappings/`` (``default``, ``census``, ``wntr``); ``--mapping`` takes one
of those names or a path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError

BUNDLED = Path(__file__).resolve().parent.parent / "mappings"

# Metres per unit.
LENGTH_UNITS = {
    "m": 1.0,
    "cm": 0.01,
    "mm": 0.001,
    "km": 1000.0,
    "in": 0.0254,
    "ft": 0.3048,
    "us-ft": 1200 / 3937,
}

# Target fields per layer: name -> python type. Unit of a numeric target follows its suffix.
TARGETS: dict[str, dict[str, type]] = {
    "pipelines": {
        "id": str,
        "utility": str,
        "material": str,
        "diameter_mm": float,
        "pressure_class": str,
        "depth_m": float,  # cover depth to the pipe's top
        "depth_axis_m": float,  # depth to the axis
        "start_depth_m": float,  # cover to the top at the first vertex
        "end_depth_m": float,
        "invert_m": float,  # invert (pipe bottom) elevation, orthometric
        "start_invert_m": float,
        "end_invert_m": float,
        "owner": str,
        "install_year": int,
        "survey_source": str,
        "status": str,
        "from_node_name": str,  # declared end nodes, checked against the snapped ones
        "to_node_name": str,
    },
    "pipe_nodes": {
        "id": str,
        "utility": str,
        "kind": str,
        "ground_h_orthometric": float,
        "depth_m": float,  # depth of the pipe axis at the node
        "is_open": bool,
    },
    "buildings": {
        "code": str,
        "address": str,
        "height_m": float,
        "ground_h_orthometric": float,
        "floors_above": int,
        "floors_below": int,
        "structure": str,
        "use": str,
        "year_built": int,
        "safety_grade": str,
        "project_code": str,  # linked by code when registered, else spatially
        "parcel_code": str,
    },
    "parcels": {
        "code": str,
        "land_use": str,
        "height_limit_m": float,
        "max_plot_ratio": float,
        "max_density": float,
        "min_setback_m": float,
    },
    "roads": {"code": str, "name": str, "road_class": str, "width_m": float},
    "tunnels": {
        "id": str,
        "name": str,
        "segment": str,
        "width_m": float,
        "height_m": float,
        "cover_depth_m": float,
        "owner": str,
    },
}

TRUE_WORDS = {"1", "true", "yes", "y", "open", "是", "开", "开启"}
FALSE_WORDS = {"0", "false", "no", "n", "closed", "否", "关", "关闭"}


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, float) and math.isnan(raw)) or (isinstance(raw, str) and not raw.strip())


def _target_unit(target: str) -> float | None:
    if target.endswith("_mm"):
        return LENGTH_UNITS["mm"]
    if target.endswith("_m") or target == "ground_h_orthometric":
        return 1.0
    return None


class MappingError(UserError):
    """A mapping file that cannot be used."""


@dataclass(frozen=True)
class FieldRule:
    source: str
    target: str
    factor: float  # multiply the source value by this to get the target's unit


@dataclass(frozen=True)
class Mapping:
    name: str
    layer: str
    rules: tuple[FieldRule, ...]
    values: dict[str, dict[str, str]]

    def apply(self, properties: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """Target values from one row's properties, and the problems found (a bad number...)."""
        by_name = {str(k).lower(): v for k, v in properties.items()}
        types = TARGETS[self.layer]
        out: dict[str, Any] = {}
        problems: list[str] = []
        for rule in self.rules:
            if out.get(rule.target) is not None:
                continue
            raw = by_name.get(rule.source.lower())
            if (
                raw is None
                or (isinstance(raw, float) and math.isnan(raw))
                or (isinstance(raw, str) and not raw.strip())
            ):
                continue
            try:
                out[rule.target] = self._convert(rule, raw, types[rule.target])
            except (TypeError, ValueError):
                problems.append(f"{rule.target} is not a {types[rule.target].__name__} ({rule.source}={raw!r})")
        return out, problems

    def _convert(self, rule: FieldRule, raw: Any, kind: type) -> Any:
        if kind is str:
            text = str(raw).strip()
            if isinstance(raw, float) and raw.is_integer():
                text = str(int(raw))
            return self.values.get(rule.target, {}).get(text, text)
        if kind is bool:
            word = str(raw).strip().lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError(word)
        if kind is int:
            return int(float(raw))
        return float(raw) * rule.factor


def load_mapping(layer: str, mapping: str | Path | None = None) -> Mapping:
    """The mapping for ``layer`` from a bundled name (``default`` when None) or a JSON file."""
    if layer not in TARGETS:
        raise MappingError(f"unknown layer {layer!r}: use one of {', '.join(TARGETS)}")
    name = str(mapping or "default")
    path = BUNDLED / f"{name}.json" if (BUNDLED / f"{name}.json").is_file() else Path(name)
    if not path.is_file():
        bundled = ", ".join(sorted(p.stem for p in BUNDLED.glob("*.json")))
        raise MappingError(f"no mapping {name!r}: give a JSON file or one of {bundled}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping {path.name} is not valid JSON: {exc}") from exc
    section = document.get(layer)
    if section is None:
        raise MappingError(f"mapping {path.name} has no section for layer {layer!r}")
    rules = []
    for source, spec in section.get("fields", {}).items():
        spec = {"to": spec} if isinstance(spec, str) else spec
        target = spec.get("to")
        if target not in TARGETS[layer]:
            raise MappingError(f"mapping {path.name}: {source!r} maps to unknown {layer} field {target!r}")
        factor = 1.0
        if "unit" in spec:
            unit, target_unit = LENGTH_UNITS.get(spec["unit"]), _target_unit(target)
            if unit is None or target_unit is None:
                raise MappingError(f"mapping {path.name}: unit {spec['unit']!r} of {source!r} does not fit {target}")
            factor = unit / target_unit
        rules.append(FieldRule(source, target, factor))
    return Mapping(path.stem, layer, tuple(rules), section.get("values", {}))

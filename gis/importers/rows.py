"""From source rows to mapped, checked rows: missing fields, bad values and empty geometry are rejected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from gis.importers.mapping import Mapping
from gis.importers.report import ImportReport
from gis.importers.source import Source
from gis.importers.write import too_long


@dataclass
class Row:
    fid: str
    values: dict[str, Any]
    geom: BaseGeometry


def mapped_rows(
    source: Source,
    mapping: Mapping,
    report: ImportReport,
    *,
    key: str,
    required: tuple[str, ...],
    table: str,
    defaults: dict[str, Any] | None = None,
) -> list[Row]:
    """Rows whose mapped values have ``key`` and every ``required`` field, unique keys and a non-empty geometry."""
    rows: list[Row] = []
    seen: set[str] = set()
    report.read += len(source.properties)
    for index, (properties, geom) in enumerate(zip(source.properties, source.geometry, strict=True)):
        values, problems = mapping.apply(properties)
        for name, value in (defaults or {}).items():
            if values.get(name) is None and value is not None:
                values[name] = value
        fid = values.get(key)
        label = str(fid) if fid is not None else f"row {index + 1}"
        missing = [name for name in (key, *required) if values.get(name) is None]
        if problems:
            report.reject(label, problems[0])
        elif missing:
            report.reject(label, f"missing {missing[0]}")
        elif fid in seen:
            report.reject(label, f"duplicate {key}")
        elif geom is None or shapely.is_empty(geom):
            report.reject(label, "empty geometry")
        elif reason := too_long(table, values):
            report.reject(label, reason)
        else:
            assert fid is not None, "a row without its key is missing it (above)"
            seen.add(fid)
            rows.append(Row(fid, values, geom))
    return rows

"""Vector import: a GeoJSON, GeoPackage or Shapefile layer into PostGIS, in one transaction.

:func:`import_layer` reads the file (CRS from the file or ``crs``), transforms every vertex with pyproj
into the store CRS, maps attributes (``gis/mappings``), rejects rows with a reason, writes the rows and
records what it rejected or could not connect in ``network_issue``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from core.db import session_scope
from core.errors import UserError
from gis.importers import areas, pipes
from gis.importers.mapping import load_mapping
from gis.importers.report import ImportReport
from gis.importers.rows import mapped_rows
from gis.importers.source import read_source
from gis.importers.write import record_issues
from gis.linking import link

LINKED_LAYERS = ("buildings", "parcels")  # their import links buildings, projects and parcels
# layer -> (table, key, required fields)
LAYERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pipelines": ("pipeline", "id", ("utility",)),
    "nodes": ("pipe_node", "id", ("utility", "kind")),
    "buildings": ("building", "code", ()),
    "parcels": ("parcel", "code", ("land_use",)),
    "roads": ("road", "code", ("name", "road_class", "width_m")),
    "tunnels": ("utility_tunnel", "id", ("name", "segment", "width_m", "height_m", "cover_depth_m")),
}


def import_layer(
    path: str | Path,
    layer: str,
    *,
    utility: str | None = None,
    kind: str | None = None,
    crs: str | None = None,
    mapping: str | Path | None = None,
    snap_tolerance: float = 0.5,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Import one layer; returns ``{layer, source_crs, read, written, rejected, reasons, warnings, seconds}``
    plus, for pipelines, ``components``, ``dangling_ends``, ``unconnected_pipes``."""
    started = time.perf_counter()
    if layer not in LAYERS:
        raise UserError(f"unknown layer {layer!r}: use one of {', '.join(LAYERS)}")
    if snap_tolerance < 0:
        raise UserError("--snap-tolerance must not be negative")
    table, key, required = LAYERS[layer]
    rules = load_mapping(layer, mapping)
    source = read_source(path, crs)
    report = ImportReport(layer)
    defaults = {"pipelines": {"utility": utility}, "nodes": {"utility": utility, "kind": kind or "junction"}}.get(layer)
    rows = mapped_rows(source, rules, report, key=key, required=required, table=table, defaults=defaults)
    with session_scope() as session:
        if layer == "pipelines":
            extra = pipes.import_pipelines(
                session, rows, report, snap_tolerance=snap_tolerance, source_name=source.name, progress=progress
            )
        elif layer == "nodes":
            extra = pipes.import_nodes(session, rows, report, progress)
        else:
            extra = getattr(areas, f"import_{layer}")(session, rows, report, progress)
        if layer in LINKED_LAYERS:
            extra["linking"] = link(session.connection(), **{layer: [row.fid for row in rows]})
        record_issues(session, layer, report.issues)
    return {
        "file": source.name,
        "source_crs": source.crs,
        "mapping": rules.name,
        **report.as_dict(),
        **extra,
        "seconds": round(time.perf_counter() - started, 3),
    }

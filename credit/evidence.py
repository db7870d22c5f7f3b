"""An alert's evidence on the map: the features its references (``table:id``) name, found through the
layer registry (the layer whose source is that table), plus the enterprise's own location, the
cluster centre of a complaint cluster and the complaints themselves, as GeoJSON in CRS84."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.models import CreditAlert
from core.registry import registry

# Records with a location of their own that no map layer shows: (table, id column, geometry).
LOCATED_RECORDS = {"complaint": ("complaint", "id", "location")}


def _sources() -> dict[str, tuple[str | None, str, str, str]]:
    """``table → (layer, FROM clause, id column, geometry)`` for every layer whose features are a table's rows."""
    found: dict[str, tuple[str | None, str, str, str]] = {
        table: (None, f"{table} AS t", column, geometry) for table, (table, column, geometry) in LOCATED_RECORDS.items()
    }
    for layer in registry().layers:
        if layer.base_table:
            found.setdefault(layer.base_table, (layer.name, layer.from_clause, layer.id_column, layer.geometry))
    return found


def _refs(evidence: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(role, table, id) of the records and features an alert's evidence names."""
    out = []
    for role in ("records", "features"):
        for ref in evidence.get(role) or []:
            table, _, key = str(ref).partition(":")
            if key:
                out.append(("site" if table == "project" else role.rstrip("s"), table, key))
    return out


def features(session: Session, alert_id: int) -> dict[str, Any]:
    """The alert's evidence as a FeatureCollection; each feature says its ``ref``, ``role``
    (enterprise, site, feature, record, centre) and the map ``layer`` that shows it (or null)."""
    alert = session.get(CreditAlert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    refs = _refs(alert.evidence)
    if alert.enterprise_uscc:
        refs.insert(0, ("enterprise", "enterprise", alert.enterprise_uscc))
    sources = _sources()
    out: list[dict[str, Any]] = []
    for table in dict.fromkeys(t for _, t, _ in refs):
        if table not in sources:
            continue
        layer, source, column, geometry = sources[table]
        wanted = {key: role for role, t, key in refs if t == table}
        rows = session.execute(
            text(
                f"SELECT {column}::text AS id, ST_AsGeoJSON(ST_Transform(ST_Force2D({geometry}), 4326), 7) AS g"
                f" FROM {source} WHERE {column}::text = ANY(:ids) AND {geometry} IS NOT NULL ORDER BY 1"
            ),
            {"ids": list(wanted)},
        )
        for key, geojson in rows:
            out.append(
                {
                    "type": "Feature",
                    "id": f"{table}:{key}",
                    "geometry": json.loads(geojson),
                    "properties": {"ref": f"{table}:{key}", "role": wanted[key], "layer": layer, "id": key},
                }
            )
    centre = alert.evidence.get("centre")
    if centre:
        properties = {"ref": None, "role": "centre", "layer": None, "id": None}
        out.append({"type": "Feature", "id": "centre", "geometry": centre, "properties": properties})
    return {"type": "FeatureCollection", "features": out}

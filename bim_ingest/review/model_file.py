"""Where the submitted model's elements sit in its own coordinates (metres), for BCF viewpoints."""

from __future__ import annotations

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.placement
import ifcopenshell.util.unit
import numpy as np


def building_global_id(model: ifcopenshell.file) -> str | None:
    """The GlobalId whole-building issues hang on: the IfcBuilding, else the IfcProject."""
    for ifc_class in ("IfcBuilding", "IfcProject"):
        found = model.by_type(ifc_class)
        if found:
            return found[0].GlobalId
    return None


def centres(model: ifcopenshell.file, global_ids: set[str]) -> dict[str, list[float]]:
    """Centre of each element's body (bounding box, model coordinates, metres); the placement
    origin for what has no body (building, storey, project)."""
    elements = []
    for global_id in global_ids:
        try:
            elements.append(model.by_guid(global_id))
        except RuntimeError:
            continue
    found: dict[str, list[float]] = {}
    with_body = [e for e in elements if getattr(e, "Representation", None) is not None]
    if with_body:
        settings = ifcopenshell.geom.settings()
        settings.set("use-world-coords", True)
        iterator = ifcopenshell.geom.iterator(settings, model, 1, include=with_body)
        if iterator.initialize():
            while True:
                shape = iterator.get()
                verts = np.asarray(shape.geometry.verts, dtype=float).reshape(-1, 3)
                if len(verts):
                    found[shape.guid] = ((verts.min(axis=0) + verts.max(axis=0)) / 2).round(3).tolist()
                if not iterator.next():
                    break
    scale = ifcopenshell.util.unit.calculate_unit_scale(model)
    for element in elements:
        if element.GlobalId not in found:
            placement = getattr(element, "ObjectPlacement", None)
            origin = ifcopenshell.util.placement.get_local_placement(placement)[:3, 3] if placement else np.zeros(3)
            found[element.GlobalId] = (origin * scale).round(3).tolist()
    return found

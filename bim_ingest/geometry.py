"""Triangulate IFC products with IfcOpenShell's geometry iterator and turn meshes into PostGIS
values (EWKB TIN, footprint, hash).

Kernel choice, measured on the shared files (bench/ingest/RESULTS.md): ``manifold`` is the fastest
but segfaults on duplex.ifc (a crash takes the worker with it), ``opencascade`` is 3-30x slower
than the hybrid; the hybrid CGAL/OpenCASCADE kernel is used. Two threads were slower than one on
this 2-core machine, so the iterator runs single-threaded. Opening elements are excluded (their
voids are cut from their hosts). Local (not world) coordinates are asked for so that a shared
representation is triangulated once; its placement matrix is applied here.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import ifcopenshell
import ifcopenshell.geom
import numpy as np
import shapely

GEOMETRY_LIBRARY = "hybrid-cgal-simple-opencascade"
THREADS = 1
EXCLUDE = ("IfcOpeningElement",)

_EWKB_Z, _EWKB_SRID, _TIN, _TRIANGLE = 0x80000000, 0x20000000, 16, 17
_TRIANGLE_DTYPE = np.dtype(
    [("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xyz", "<f8", (4, 3))]
)


@dataclass
class Mesh:
    """One product's triangles in local metres (the model's world coordinate system)."""

    product_id: int
    global_id: str
    vertices: np.ndarray  # (n, 3) float64
    faces: np.ndarray  # (m, 3) int


def settings() -> ifcopenshell.geom.settings:
    """Geometry settings shared by the ingest and the benchmark's bare iterator."""
    s = ifcopenshell.geom.settings()
    s.set("weld-vertices", True)
    s.set("use-world-coords", False)
    return s


def iterator(model: ifcopenshell.file) -> ifcopenshell.geom.iterator:
    return ifcopenshell.geom.iterator(
        settings(), model, THREADS, exclude=list(EXCLUDE), geometry_library=GEOMETRY_LIBRARY
    )


def meshes(model: ifcopenshell.file, progress=None) -> Iterator[Mesh]:
    """Yield each product's mesh, one at a time; ``progress(percent)`` as the iterator advances."""
    it = iterator(model)
    if not it.initialize():
        return
    while True:
        shape = it.get()
        geometry = shape.geometry
        local = np.frombuffer(geometry.verts_buffer, "d").reshape(-1, 3)
        matrix = np.frombuffer(shape.transformation_buffer, "d").reshape((4, 4), order="F")
        vertices = local @ matrix[:3, :3].T + matrix[:3, 3]
        faces = np.frombuffer(geometry.faces_buffer, "i").reshape(-1, 3)
        yield Mesh(shape.id, shape.guid, vertices, faces)
        if progress is not None:
            progress(it.progress())
        if not it.next():
            break


def tin_ewkb(triangles: np.ndarray, srid: int) -> bytes:
    """EWKB of a TIN Z from (m, 3, 3) triangle corners."""
    parts = np.empty(len(triangles), _TRIANGLE_DTYPE)
    parts["order"], parts["type"], parts["rings"], parts["points"] = 1, _TRIANGLE | _EWKB_Z, 1, 4
    parts["xyz"][:, :3] = triangles
    parts["xyz"][:, 3] = triangles[:, 0]
    return struct.pack("<BIII", 1, _TIN | _EWKB_Z | _EWKB_SRID, srid, len(triangles)) + parts.tobytes()


def footprint(triangles: np.ndarray) -> shapely.MultiPolygon | None:
    """The union of the triangles seen from above.

    Of a closed solid, the faces turned up cover the footprint, and so do the faces turned down:
    only the smaller non-empty of the two sets is unioned (vertical faces drop out), which
    halves the union, the costliest step of the ingest.
    """
    a = triangles[:, 1, :2] - triangles[:, 0, :2]
    b = triangles[:, 2, :2] - triangles[:, 0, :2]
    twice_area = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    sides = [s for s in (twice_area > 2e-8, twice_area < -2e-8) if s.any()]
    if not sides:
        return None
    chosen = triangles[min(sides, key=lambda s: int(s.sum()))]
    polygons = shapely.polygons(np.concatenate([chosen[:, :, :2], chosen[:, :1, :2]], axis=1))
    union = shapely.union_all(polygons)
    parts = [g for g in shapely.get_parts(union) if isinstance(g, shapely.Polygon) and not g.is_empty]
    return shapely.MultiPolygon(parts) if parts else None


def geometry_hash(triangles: np.ndarray) -> str:
    """SHA-256 of the triangles rounded to the millimetre: equal geometry, equal hash."""
    return hashlib.sha256(np.round(triangles * 1000).astype("<i8").tobytes()).hexdigest()

"""Triangulate IFC products with IfcOpenShell's geometry iterator and turn meshes into PostGIS
values (EWKB TIN, footprint, hash).

Kernel choice, measured on the shared files (bench/ingest/RESULTS.md): ``manifold`` is the fastest
but segfaults on duplex.ifc and drops geometry on example.ifc, ``opencascade`` is 3-30x slower
than the hybrid; the hybrid CGAL/OpenCASCADE kernel is used. Two iterator threads cost twice the
CPU of one on this 2-core machine, so the iterator runs single-threaded. Opening elements are
excluded (their voids are cut from their hosts). Local (not world) coordinates are asked for so
that a shared representation is triangulated once; its placement matrix is applied here.

Footprints are computed once per shared representation (:class:`Footprints`): a product whose
placement keeps the plan view (a turn about z, a shift, a mirror) gets its representation's
footprint moved, which on models of repeated furniture saves most of the unions.

The iterator holds the GIL while it triangulates, so it runs in a forked child process
(:class:`MeshStream`) that streams each product's mesh through a pipe: the kernel works on one
core while this process georeferences, describes and writes the previous products on the other.
The pipe's buffer bounds memory (the child waits when the writer is behind), and a crash of the
kernel fails the ingest instead of killing the worker.

Products with a body the iterator does not triangulate are retried one by one
(:func:`triangulate_missing`): IfcOpenShell 0.9 maps no ``IfcRightCircularCylinder`` or
``IfcRightCircularCone`` in any kernel (its mapping is a to-do), so these CSG primitives are
replaced by the equal swept solids (a circle extruded, a triangle revolved) and the product is
triangulated again, with the other kernels as a last resort; what still fails is reported with
IfcOpenShell's reason.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.unit
import numpy as np
import shapely

from bim_ingest.forked import CAN_FORK, ForkedPipe, dump

if TYPE_CHECKING:
    from ifcopenshell.geom.main import GEOMETRY_LIBRARY as Library
    from ifcopenshell.ifcopenshell_wrapper import triangulation_element as TriangulationElement

GEOMETRY_LIBRARY: Library = "hybrid-cgal-simple-opencascade"
FALLBACK_LIBRARIES: tuple[Library, ...] = ("opencascade", "cgal")
THREADS = 1
EXCLUDE = ("IfcOpeningElement",)
UNMAPPED_PRIMITIVES = ("IfcRightCircularCylinder", "IfcRightCircularCone")

_EWKB_Z, _EWKB_SRID, _TIN, _TRIANGLE = 0x80000000, 0x20000000, 16, 17
_TRIANGLE_DTYPE = np.dtype(
    [("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4"), ("xyz", "<f8", (4, 3))]
)
# one record per product on the pipe: id, progress, then the byte lengths of guid, shape id, matrix, vertices, faces
_RECORD = struct.Struct("<iiiiiqq")
_END, _ERROR = -1, -2
_FAILED_RE = re.compile(r"Failed to convert:\s*#(\d+)=(\w+)\(")


@dataclass
class Mesh:
    """One product's triangles: vertices in its representation's frame, placed by ``placement``."""

    product_id: int
    global_id: str
    shape_id: str | None  # the kernel's id of the triangulated representation (None: not shared)
    local: np.ndarray  # (n, 3) float64
    placement: np.ndarray  # (4, 4): representation frame to local metres
    faces: np.ndarray  # (m, 3) int

    @cached_property
    def vertices(self) -> np.ndarray:
        """Vertices in local metres (the model's world coordinate system)."""
        return self.local @ self.placement[:3, :3].T + self.placement[:3, 3]


@dataclass
class Untriangulated:
    """A product with a body representation that no kernel could triangulate, and why."""

    product_id: int
    global_id: str
    ifc_class: str
    name: str | None
    reason: str

    def as_dict(self) -> dict[str, str | None]:
        return {"global_id": self.global_id, "ifc_class": self.ifc_class, "name": self.name, "reason": self.reason}


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


def _mesh(product_id: int, guid: str, shape_id: str | None, matrix: bytes, verts: bytes, faces: bytes) -> Mesh:
    return Mesh(
        product_id,
        guid,
        shape_id,
        np.frombuffer(verts, "d").reshape(-1, 3),
        np.frombuffer(matrix, "d").reshape((4, 4), order="F"),
        np.frombuffer(faces, "i").reshape(-1, 3),
    )


@dataclass
class TreeJob:
    """Products the kernel also adds to a BVH tree (``ifcopenshell.geom.tree``) as it triangulates
    them, and the question put to the tree after the last product: what needs the products' solids
    (the review's clashes) gets them without triangulating the model a second time. The answer must
    pickle (it comes back through the kernel's pipe)."""

    members: frozenset[int]  # product ids
    ask: Callable[[ifcopenshell.geom.tree], Any]


def _shapes(
    model: ifcopenshell.file, tree: ifcopenshell.geom.tree | None = None, members: frozenset[int] = frozenset()
) -> Iterator[tuple[int, str, str, bytes, bytes, bytes, float]]:
    """The iterator's products as raw buffers: (id, guid, shape id, matrix, vertices, faces, percent);
    the ``members`` also go into ``tree``."""
    it = iterator(model)
    if not it.initialize():
        return
    while True:
        shape = it.get()
        geometry = shape.geometry
        if tree is not None and shape.id in members:
            tree.add_element(shape)
        yield (
            shape.id,
            shape.guid,
            geometry.id,
            shape.transformation_buffer,
            geometry.verts_buffer,
            geometry.faces_buffer,
            (it.progress()),
        )
        if not it.next():
            break


def _new_tree(job: TreeJob | None) -> ifcopenshell.geom.tree | None:
    return None if job is None else ifcopenshell.geom.tree(backend="opencascade.trianglebvh")


def _produce(model: ifcopenshell.file, job: TreeJob | None, out: BinaryIO) -> None:
    """The child's work: iterate and write one record per product to ``out``; then the tree job's
    answer, pickled after the end record."""
    try:
        tree = _new_tree(job)
        for product_id, guid, shape_id, matrix, verts, faces, percent in _shapes(
            model, tree, job.members if job else frozenset()
        ):
            raw, key = guid.encode(), shape_id.encode()
            out.write(_RECORD.pack(product_id, int(percent), len(raw), len(key), len(matrix), len(verts), len(faces)))
            out.write(raw + key + matrix + verts + faces)
        answer = job.ask(tree) if job is not None and tree is not None else None
        out.write(_RECORD.pack(_END, 100, 0, 0, 0, 0, 0))
        if job is not None:
            dump(answer, out)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it (a broken pipe raises again)
        message = f"{type(exc).__name__}: {exc}".encode()
        out.write(_RECORD.pack(_ERROR, 0, len(message), 0, 0, 0, 0) + message)


class MeshStream:
    """The products' meshes in iterator order, triangulated by a forked child as soon as this is made.

    Use as a context manager; leaving it early stops the child. Without ``os.fork`` (or with
    ``separate_process=False``) the iterator runs in this process when iterated. With a ``tree``
    job, its answer is :attr:`answer` once the last mesh has been taken.
    """

    def __init__(self, model: ifcopenshell.file, *, separate_process: bool = True, tree: TreeJob | None = None) -> None:
        self.model, self.tree = model, tree
        self.answer: Any = None
        self._pipe = (
            ForkedPipe(lambda out: _produce(model, tree, out), "geometry kernel")
            if separate_process and CAN_FORK
            else None
        )

    def __enter__(self) -> MeshStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()

    def iter(self, progress: Callable[[float], None] | None = None) -> Iterator[Mesh]:
        if self._pipe is None:
            tree = _new_tree(self.tree)
            members = self.tree.members if self.tree else frozenset()
            for product_id, guid, shape_id, matrix, verts, faces, percent in _shapes(self.model, tree, members):
                yield _mesh(product_id, guid, shape_id, matrix, verts, faces)
                if progress is not None:
                    progress(percent)
            if self.tree is not None and tree is not None:
                self.answer = self.tree.ask(tree)
            return
        read = self._pipe.read
        while True:
            product_id, percent, n_guid, n_shape, n_matrix, n_verts, n_faces = _RECORD.unpack(read(_RECORD.size))
            if product_id == _END:
                if self.tree is not None:
                    self.answer = self._pipe.load()
                return
            if product_id == _ERROR:
                raise RuntimeError(f"the geometry iterator failed: {read(n_guid).decode(errors='replace')}")
            guid, shape_id = read(n_guid).decode(), read(n_shape).decode()
            yield _mesh(product_id, guid, shape_id, read(n_matrix), read(n_verts), read(n_faces))
            if progress is not None:
                progress(percent)


def meshes(model: ifcopenshell.file, progress=None) -> Iterator[Mesh]:
    """Yield each product's mesh, one at a time; ``progress(percent)`` as the iterator advances."""
    with MeshStream(model) as stream:
        yield from stream.iter(progress)


def has_body(product: ifcopenshell.entity_instance) -> bool:
    shape = getattr(product, "Representation", None)
    return shape is not None and any(
        r.RepresentationIdentifier in (None, "Body", "Facetation") for r in shape.Representations
    )


def body_products(model: ifcopenshell.file) -> dict[int, ifcopenshell.entity_instance]:
    """The products with a body representation the iterator is asked to triangulate, by id."""
    return {p.id(): p for p in model.by_type("IfcProduct") if not p.is_a(EXCLUDE[0]) and has_body(p)}


def _frame(placement: ifcopenshell.entity_instance | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Location, x and z axes of an IfcAxis2Placement3D (defaults filled in, x made normal to z)."""
    if placement is None:
        return np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    z = np.array(placement.Axis.DirectionRatios if placement.Axis else (0, 0, 1.0), float)
    x = np.array(placement.RefDirection.DirectionRatios if placement.RefDirection else (1.0, 0, 0), float)
    z /= np.linalg.norm(z)
    x = x - np.dot(x, z) * z
    x /= np.linalg.norm(x)
    return np.array(placement.Location.Coordinates, float), x, z


def _swept_equivalent(
    model: ifcopenshell.file, primitive: ifcopenshell.entity_instance
) -> ifcopenshell.entity_instance:
    """A swept solid equal to a right circular cylinder (extruded circle) or cone (revolved triangle)."""
    point2 = lambda x, y: model.createIfcCartesianPoint((float(x), float(y)))  # noqa: E731
    if primitive.is_a("IfcRightCircularCylinder"):
        profile = model.createIfcCircleProfileDef(
            "AREA", None, model.createIfcAxis2Placement2D(point2(0, 0)), primitive.Radius
        )
        return model.createIfcExtrudedAreaSolid(
            profile, primitive.Position, model.createIfcDirection((0.0, 0.0, 1.0)), primitive.Height
        )
    r, h = float(primitive.BottomRadius), float(primitive.Height)
    triangle = model.createIfcPolyline([point2(0, 0), point2(r, 0), point2(0, h), point2(0, 0)])
    profile = model.createIfcArbitraryClosedProfileDef("AREA", None, triangle)
    location, x, z = _frame(primitive.Position)
    # the profile plane holds the cone's x axis and its axis: its normal is the cone's -y
    plane = model.createIfcAxis2Placement3D(
        model.createIfcCartesianPoint(tuple(map(float, location))),
        model.createIfcDirection(tuple(map(float, -np.cross(z, x)))),
        model.createIfcDirection(tuple(map(float, x))),
    )
    axis = model.createIfcAxis1Placement(
        model.createIfcCartesianPoint((0.0, 0.0, 0.0)), model.createIfcDirection((0.0, 1.0, 0.0))
    )
    full_turn = 2 * math.pi / ifcopenshell.util.unit.calculate_unit_scale(model, "PLANEANGLEUNIT")
    return model.createIfcRevolvedAreaSolid(profile, plane, axis, full_turn)


def _replace(model: ifcopenshell.file, old: ifcopenshell.entity_instance, new: ifcopenshell.entity_instance) -> None:
    """Point every reference to ``old`` at ``new``; a CSG solid rooted at ``old`` is itself replaced."""
    for holder in model.get_inverse(old):
        if holder.is_a("IfcCsgSolid"):
            _replace(model, holder, new)
            continue
        for i in range(len(holder)):
            value = holder[i]
            if value == old:
                holder[i] = new
            elif isinstance(value, tuple) and old in value:
                holder[i] = tuple(new if v == old else v for v in value)


def _representation_items(product: ifcopenshell.entity_instance) -> set[int]:
    """Ids of every entity the product's representations reference (to find its primitives)."""
    found: set[int] = set()
    for representation in product.Representation.Representations:
        for entity in product.file.traverse(representation):
            found.add(entity.id())
    return found


def _reason(log: str, error: Exception | None) -> str:
    failed = [f"{cls} #{n}" for n, cls in _FAILED_RE.findall(log)]
    if failed:
        unique = list(dict.fromkeys(failed))
        return "IfcOpenShell cannot convert " + ", ".join(unique[:6]) + (" ..." if len(unique) > 6 else "")
    if error is not None:
        return f"IfcOpenShell: {str(error).split('. Product:')[0].splitlines()[0][:200]}"
    return "IfcOpenShell returned no triangles"


def triangulate_missing(
    model: ifcopenshell.file, products: list[ifcopenshell.entity_instance]
) -> tuple[list[Mesh], list[Untriangulated], list[str]]:
    """Retry products the iterator skipped: after replacing unmapped CSG primitives, with each kernel.

    Returns the meshes made, the products still without one (with a reason), and notes on what was
    replaced. Changes ``model`` in memory (never the file).
    """
    made, failed, notes = [], [], []
    s = settings()
    for product in products:
        primitives = [e for e in map(model.by_id, _representation_items(product)) if e.is_a() in UNMAPPED_PRIMITIVES]
        for primitive in primitives:
            _replace(model, primitive, _swept_equivalent(model, primitive))
        if primitives:
            kinds = sorted({p.is_a() for p in primitives})
            notes.append(
                f"{product.is_a()} {product.GlobalId}: {', '.join(kinds)} (not mapped by IfcOpenShell 0.9) "
                "triangulated as the equal swept solid"
            )
        ifcopenshell.get_log()
        reason, mesh = None, None
        for library in (GEOMETRY_LIBRARY, *FALLBACK_LIBRARIES):
            error = None
            try:
                # a product with triangulation settings: a triangulation element (the stub says any shape)
                created = ifcopenshell.geom.create_shape(s, product, geometry_library=library)
                shape = cast("TriangulationElement", created)
                geometry = shape.geometry
                if len(geometry.faces_buffer):
                    mesh = _mesh(
                        product.id(),
                        product.GlobalId,
                        None,  # the model was changed in memory: not to be matched with the iterator's shapes
                        shape.transformation_buffer,
                        geometry.verts_buffer,
                        geometry.faces_buffer,
                    )
                    break
            except RuntimeError as exc:
                error = exc
            reason = reason or _reason(ifcopenshell.get_log(), error)
        if mesh is not None:
            made.append(mesh)
        else:
            failed.append(
                Untriangulated(
                    product.id(), product.GlobalId, product.is_a(), getattr(product, "Name", None), reason or "unknown"
                )
            )
    return made, failed, notes


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
    return _multipolygon(shapely.union_all(polygons))


def _multipolygon(geometry: shapely.Geometry) -> shapely.MultiPolygon | None:
    """The polygons of ``geometry`` as one MultiPolygon (None if there are none)."""
    parts = [g for g in shapely.get_parts(geometry) if isinstance(g, shapely.Polygon) and not g.is_empty]
    return shapely.MultiPolygon(parts) if parts else None


# an element's geometry columns: hash, (z min, z max), TIN as EWKB
ElementValues = tuple[str, tuple[float, float] | None, bytes | None]


def element_values(triangles: np.ndarray, srid: int) -> ElementValues:
    """The stored geometry columns of one element but its footprint: hash, (z_min, z_max), EWKB TIN.

    NumPy releases the GIL here, so the ingest runs this in a worker thread while its main thread
    takes the next element.
    """
    if not len(triangles):
        return "", None, None
    z = triangles[:, :, 2]
    return geometry_hash(triangles), (float(z.min()), float(z.max())), tin_ewkb(triangles, srid)


_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass
class PlacedFootprint:
    """A footprint on its way: the outline in a frame (computed in a worker) and how the frame's
    plan maps to local metres (2 x 3 affine), at the height of the element's lowest vertex."""

    outline: Future[shapely.MultiPolygon | None]
    affine: np.ndarray
    z: float


def place_footprints(
    footprints: list[PlacedFootprint], to_store: Callable[[np.ndarray], np.ndarray], srid: int
) -> list[bytes | None]:
    """The footprints in store coordinates (``to_store`` maps local metres (n, 3) there, called
    once for all their vertices) as EWKB.

    A map projection far from its zone can fold a sliver of a moved outline: such an outline is
    repaired (its rings' structure kept, collapsed parts dropped).
    """
    outlines = [f.outline.result() for f in footprints]
    present = [i for i, outline in enumerate(outlines) if outline is not None]
    found: list[bytes | None] = [None] * len(footprints)
    if not present:
        return found
    shapes = np.array([outlines[i] for i in present], dtype=object)
    owner = np.repeat(np.arange(len(present)), shapely.get_num_coordinates(shapes))
    affine = np.stack([footprints[i].affine for i in present])[owner]
    z = np.array([footprints[i].z for i in present])[owner]

    def place(xy: np.ndarray) -> np.ndarray:
        x = xy[:, 0] * affine[:, 0, 0] + xy[:, 1] * affine[:, 0, 1] + affine[:, 0, 2]
        y = xy[:, 0] * affine[:, 1, 0] + xy[:, 1] * affine[:, 1, 1] + affine[:, 1, 2]
        return to_store(np.column_stack((x, y, z)))[:, :2]

    placed = shapely.transform(shapes, place)
    for j in np.flatnonzero(~shapely.is_valid(placed)):
        placed[j] = _multipolygon(shapely.make_valid(placed[j], method="structure", keep_collapsed=False))
    kept = [j for j, shape in enumerate(placed) if shape is not None]
    ewkb = shapely.to_wkb(shapely.set_srid(placed[kept], srid), include_srid=True)
    for j, value in zip(kept, ewkb, strict=True):
        found[present[j]] = value
    return found


class Footprints:
    """Footprints computed in ``pool``, once per representation for products placed without
    tilting or scaling it (x, y not depending on z): a plan view moves with such a placement.

    A cached footprint is used only for the very same triangles (the shape id is a key, not a proof);
    the cache holds their digest and the outline, not the mesh.
    """

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._cache: dict[str, tuple[bytes, Future[shapely.MultiPolygon | None]]] = {}

    def request(self, mesh: Mesh) -> PlacedFootprint:
        m = mesh.placement
        z = float(mesh.vertices[:, 2].min()) if len(mesh.faces) else 0.0
        keeps_plan = abs(m[0, 2]) <= 1e-12 and abs(m[1, 2]) <= 1e-12 and abs(abs(np.linalg.det(m[:2, :2])) - 1) <= 1e-9
        if mesh.shape_id is None or not keeps_plan:
            return PlacedFootprint(self._pool.submit(_footprint_of, mesh.vertices, mesh.faces), _IDENTITY, z)
        affine = m[:2, [0, 1, 3]]
        digest = hashlib.blake2b(mesh.local.tobytes()).digest() + hashlib.blake2b(mesh.faces.tobytes()).digest()
        cached = self._cache.get(mesh.shape_id)
        if cached is not None and cached[0] == digest:
            return PlacedFootprint(cached[1], affine, z)
        outline = self._pool.submit(_footprint_of, mesh.local, mesh.faces)
        self._cache[mesh.shape_id] = (digest, outline)
        return PlacedFootprint(outline, affine, z)


def _footprint_of(vertices: np.ndarray, faces: np.ndarray) -> shapely.MultiPolygon | None:
    return footprint(vertices[faces]) if len(faces) else None


def geometry_hash(triangles: np.ndarray) -> str:
    """SHA-256 of the triangles rounded to the millimetre: equal geometry, equal hash."""
    return hashlib.sha256(np.round(triangles * 1000).astype("<i8").tobytes()).hexdigest()

"""Solids for the 3D Tiles: LOD1 building extrusions, pipe tubes, tunnel sweeps, node meshes.

Every function works on whole batches with numpy and returns one :class:`Mesh` in the store CRS
(metres, orthometric heights). A mesh keeps its distinct points apart from its corners so the
caller transforms each point once (pyproj, exact) and corners carry their own normals.
"""

from __future__ import annotations

from dataclasses import dataclass

import mapbox_earcut
import numpy as np
import shapely
import trimesh

# The inradius of a unit icosahedron: scaling by its inverse makes the joint cover the tube.
ICOSAHEDRON_INRADIUS = 0.7946544722917661


@dataclass
class Mesh:
    """Triangles over corners; each corner is a point (store CRS) with a normal and a feature."""

    points: np.ndarray  # (p, 3) float64
    corner_point: np.ndarray  # (c,) int64 index into points
    corner_normal: np.ndarray  # (c, 3) float64, unit, store frame
    triangles: np.ndarray  # (t, 3) int64 index into corners
    corner_feature: np.ndarray  # (c,) int64 feature index in the batch

    @staticmethod
    def empty() -> Mesh:
        return Mesh(
            np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
        )


def concat(meshes: list[Mesh]) -> Mesh:
    """One mesh from several (indices shifted)."""
    meshes = [m for m in meshes if len(m.triangles)]
    if not meshes:
        return Mesh.empty()
    point_offsets = np.cumsum([0] + [len(m.points) for m in meshes[:-1]])
    corner_offsets = np.cumsum([0] + [len(m.corner_point) for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.points for m in meshes]),
        np.concatenate([m.corner_point + o for m, o in zip(meshes, point_offsets, strict=True)]),
        np.concatenate([m.corner_normal for m in meshes]),
        np.concatenate([m.triangles + o for m, o in zip(meshes, corner_offsets, strict=True)]),
        np.concatenate([m.corner_feature for m in meshes]),
    )


def select(mesh: Mesh, features: np.ndarray) -> Mesh:
    """The part of a mesh that belongs to the given features, renumbered 0..len(features)-1."""
    renumber = np.full(int(mesh.corner_feature.max(initial=-1)) + 1, -1, np.int64)
    renumber[features[features < len(renumber)]] = np.nonzero(features < len(renumber))[0]
    keep_corner = renumber[mesh.corner_feature] >= 0
    corner_map = np.cumsum(keep_corner) - 1
    keep_tri = keep_corner[mesh.triangles[:, 0]]
    points_used = np.unique(mesh.corner_point[keep_corner])
    point_map = np.zeros(len(mesh.points), np.int64)
    point_map[points_used] = np.arange(len(points_used))
    return Mesh(
        mesh.points[points_used],
        point_map[mesh.corner_point[keep_corner]],
        mesh.corner_normal[keep_corner],
        corner_map[mesh.triangles[keep_tri]],
        renumber[mesh.corner_feature[keep_corner]],
    )


def concat_shared(meshes: list[Mesh], points: np.ndarray) -> Mesh:
    """One mesh from several that index the same ``points``."""
    offsets = np.cumsum([0] + [len(m.corner_point) for m in meshes[:-1]])
    return Mesh(
        points,
        np.concatenate([m.corner_point for m in meshes]),
        np.concatenate([m.corner_normal for m in meshes]),
        np.concatenate([m.triangles + o for m, o in zip(meshes, offsets, strict=True)]),
        np.concatenate([m.corner_feature for m in meshes]),
    )


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1, n)


def orient_outward(mesh: Mesh) -> Mesh:
    """Flip triangles whose winding disagrees with their corners' normals (counter-clockwise = front)."""
    p = mesh.points[mesh.corner_point[mesh.triangles]]
    face = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    flip = np.einsum("ij,ij->i", face, mesh.corner_normal[mesh.triangles].sum(axis=1)) < 0
    mesh.triangles[flip] = mesh.triangles[flip][:, ::-1]
    return mesh


def extrude_footprints(polygons: np.ndarray, bottom: np.ndarray, top: np.ndarray) -> Mesh:
    """LOD1 solids: each polygon's walls, roof at ``top`` and floor at ``bottom`` (per polygon).

    Convex polygons without holes are fanned in one numpy pass; the rest go through earcut.
    """
    polygons = shapely.orient_polygons(polygons, exterior_cw=False)
    if shapely.get_num_interior_rings(polygons).any():
        rings, ring_poly = shapely.get_rings(polygons, return_index=True)
        xy, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    else:  # one ring each: skip making ring objects
        ring_poly = np.arange(len(polygons))
        xy, vertex_ring = shapely.get_coordinates(polygons, return_index=True)
    ring_start = np.r_[0, np.nonzero(np.diff(vertex_ring))[0] + 1]
    ring_end = np.r_[ring_start[1:], len(xy)]
    keep = np.ones(len(xy), bool)
    keep[ring_end - 1] = False  # closing vertex repeats the first
    xy, vertex_ring = xy[keep], vertex_ring[keep]
    ring_len = ring_end - ring_start - 1
    ring_first = np.r_[0, np.cumsum(ring_len)[:-1]]
    n = len(xy)
    vertex_poly = ring_poly[vertex_ring]
    # points: every footprint vertex at the floor (0..n-1) and at the roof (n..2n-1)
    points = np.concatenate([np.column_stack([xy, bottom[vertex_poly]]), np.column_stack([xy, top[vertex_poly]])])
    # walls: one quad per ring edge with its own four corners and outward normal
    nxt = np.arange(n) + 1
    last_in_ring = nxt == (ring_first + ring_len)[vertex_ring]
    nxt[last_in_ring] = ring_first[vertex_ring[last_in_ring]]
    edge = xy[nxt] - xy
    wall_normal = _unit(np.column_stack([edge[:, 1], -edge[:, 0], np.zeros(n)]))
    wall_corners = np.column_stack([np.arange(n), nxt, nxt + n, np.arange(n) + n]).ravel()
    base = np.arange(n)[:, None] * 4
    wall_tris = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]])
    wall = Mesh(points, wall_corners, np.repeat(wall_normal, 4, axis=0), wall_tris, np.repeat(vertex_poly, 4))
    # roof and floor: a triangulation of each polygon over its own vertices
    tris = _triangulate(polygons, xy, vertex_ring, ring_poly, ring_first, ring_len)
    up = np.tile([0.0, 0.0, 1.0], (n, 1))
    roof = Mesh(points, np.arange(n) + n, up, tris, vertex_poly)
    floor = Mesh(points, np.arange(n), -up, tris[:, ::-1], vertex_poly)
    return concat_shared([wall, roof, floor], points)


def _triangulate(polygons, xy, vertex_ring, ring_poly, ring_first, ring_len) -> np.ndarray:
    """Counter-clockwise triangles (indices into xy) covering each polygon."""
    holes = shapely.get_num_interior_rings(polygons)
    # convex: every turn along the (counter-clockwise) exterior ring is to the left
    prev = np.arange(len(xy)) - 1
    at_start = np.isin(np.arange(len(xy)), ring_first)
    prev[at_start] = (ring_first + ring_len - 1)[vertex_ring[at_start]]
    nxt = np.arange(len(xy)) + 1
    at_end = np.isin(nxt, ring_first + ring_len)
    nxt[at_end] = ring_first[vertex_ring[at_end]]
    a, b = xy - xy[prev], xy[nxt] - xy
    turn = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    left = np.minimum.reduceat(turn >= -1e-9, ring_first) if len(xy) else np.zeros(0, bool)
    convex = (holes == 0) & left[np.searchsorted(ring_poly, np.arange(len(polygons)))].astype(bool)
    out = []
    exterior = np.r_[True, ring_poly[1:] != ring_poly[:-1]]  # first ring of each polygon
    fan_rings = np.nonzero(exterior & convex[ring_poly])[0]
    if len(fan_rings):
        counts = ring_len[fan_rings] - 2
        start = np.repeat(ring_first[fan_rings], counts)
        k = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 1
        out.append(np.column_stack([start, start + k, start + k + 1]))
    for poly in np.nonzero(~convex)[0]:
        r0 = np.searchsorted(ring_poly, poly)
        r1 = r0 + 1 + holes[poly]
        v0, v1 = ring_first[r0], ring_first[r1 - 1] + ring_len[r1 - 1]
        ends = (ring_first[r0:r1] + ring_len[r0:r1] - v0).astype(np.uint32)
        local = mapbox_earcut.triangulate_float64(xy[v0:v1], ends).reshape(-1, 3).astype(np.int64)
        out.append(local + v0)
    tris = np.concatenate(out) if out else np.zeros((0, 3), np.int64)
    a, b, c = xy[tris[:, 0]], xy[tris[:, 1]], xy[tris[:, 2]]
    cw = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) < 0
    tris[cw] = tris[cw][:, ::-1]
    return tris


def _line_frames(coords: np.ndarray, line: np.ndarray):
    """Per vertex of concatenated polylines: first/last flags, tangent (mitred) and the
    segment direction used to scale a mitre."""
    first = np.r_[True, line[1:] != line[:-1]]
    last = np.r_[line[1:] != line[:-1], True]
    seg = np.zeros_like(coords)
    seg[:-1] = coords[1:] - coords[:-1]
    seg_unit = _unit(seg)
    prev_unit = np.zeros_like(coords)
    prev_unit[1:] = seg_unit[:-1]
    tangent = np.where(first[:, None], seg_unit, np.where(last[:, None], prev_unit, _unit(seg_unit + prev_unit)))
    return first, last, tangent


def dedupe_vertices(coords: np.ndarray, line: np.ndarray, tolerance: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Drop vertices closer than ``tolerance`` to the previous one of the same line."""
    if len(coords) == 0:  # no lines (an empty layer)
        return coords, line
    same = np.r_[False, line[1:] == line[:-1]]
    close = np.r_[False, np.linalg.norm(np.diff(coords, axis=0), axis=1) < tolerance]
    keep = ~(same & close)
    return coords[keep], line[keep]


def pipe_tubes(coords: np.ndarray, line: np.ndarray, radius: np.ndarray, sides: int = 8) -> Mesh:
    """Tubes of ``radius[line]`` around 3D axes (concatenated vertices, line index per vertex,
    at least two distinct vertices per line), rings mitred at bends, an icosahedral joint at
    each end so pipes meeting at any angle leave no gap."""
    first, last, tangent = _line_frames(coords, line)
    u = np.cross(np.array([0.0, 0.0, 1.0]), tangent)
    vertical = np.linalg.norm(u, axis=1) < 1e-9
    u[vertical] = [1.0, 0.0, 0.0]
    u = _unit(u)
    v = np.cross(tangent, u)
    angle = 2 * np.pi * np.arange(sides) / sides
    radial = np.cos(angle)[None, :, None] * u[:, None, :] + np.sin(angle)[None, :, None] * v[:, None, :]
    r = radius[line]
    points = (coords[:, None, :] + r[:, None, None] * radial).reshape(-1, 3)
    seg = np.nonzero(~last)[0]
    j = np.arange(sides)
    a = seg[:, None] * sides + j
    b = seg[:, None] * sides + (j + 1) % sides
    c, d = b + sides, a + sides
    tris = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    tube = Mesh(points, np.arange(len(points)), radial.reshape(-1, 3), tris, np.repeat(line, sides))
    ends = np.nonzero(first | last)[0]
    joint = trimesh.creation.icosahedron()
    joints = place(
        joint, coords[ends], np.repeat(r[ends, None] / ICOSAHEDRON_INRADIUS, 3, axis=1), line[ends], smooth=True
    )
    return orient_outward(concat([tube, joints]))


def tunnel_sweeps(
    coords: np.ndarray, line: np.ndarray, left: np.ndarray, right: np.ndarray, height: np.ndarray
) -> Mesh:
    """Rectangular sections swept along floor centre lines: lateral offsets ``left > right``
    (metres to the left of the axis) and ``height`` per line; walls stay parallel at bends."""
    first, last, tangent = _line_frames(coords, line)
    th = _unit(tangent * [1.0, 1.0, 0.0])
    seg_h = np.zeros_like(coords)
    seg_h[:-1] = _unit((coords[1:] - coords[:-1]) * [1.0, 1.0, 0.0])
    mitre = 1 / np.clip(np.einsum("ij,ij->i", th, np.where(last[:, None], th, seg_h)), 0.3, 1)
    side = np.column_stack([-th[:, 1], th[:, 0], np.zeros(len(th))])
    lo, hi = left[line] * mitre, right[line] * mitre
    up = np.array([0.0, 0.0, 1.0])
    # section corners A (left floor), B (right floor), C (right roof), D (left roof)
    corners = np.stack(
        [
            coords + side * lo[:, None],
            coords + side * hi[:, None],
            coords + side * hi[:, None] + up * height[line][:, None],
            coords + side * lo[:, None] + up * height[line][:, None],
        ],
        axis=1,
    )
    points = corners.reshape(-1, 3)
    normals = np.stack([np.broadcast_to(-up, side.shape), -side, np.broadcast_to(up, side.shape), side], axis=1)
    seg = np.nonzero(~last)[0]
    meshes = []
    for k in range(4):  # each side is a strip of quads with flat normals
        p0, p1 = seg * 4 + k, seg * 4 + (k + 1) % 4
        quad = np.column_stack([p0, p1, p1 + 4, p0 + 4]).ravel()
        base = np.arange(len(seg))[:, None] * 4
        meshes.append(
            Mesh(
                points,
                quad,
                np.repeat(normals[seg, k], 4, axis=0),
                np.concatenate([base + [0, 1, 2], base + [0, 2, 3]]),
                np.repeat(line[seg], 4),
            )
        )
    for flags, sign in ((first, -1.0), (last, 1.0)):  # end caps
        idx = np.nonzero(flags)[0]
        cap = (idx[:, None] * 4 + np.arange(4)).ravel()
        base = np.arange(len(idx))[:, None] * 4
        meshes.append(
            Mesh(
                points,
                cap,
                np.repeat(th[idx] * sign, 4, axis=0),
                np.concatenate([base + [0, 1, 2], base + [0, 2, 3]]),
                np.repeat(line[idx], 4),
            )
        )
    return orient_outward(concat_shared(meshes, points))


def place(
    template: trimesh.Trimesh, centers: np.ndarray, scales: np.ndarray, feature: np.ndarray, *, smooth: bool = False
) -> Mesh:
    """Copies of a template mesh scaled per axis and moved to each centre (flat or smooth normals)."""
    verts, faces = np.asarray(template.vertices), np.asarray(template.faces)
    n = len(centers)
    points = (verts[None] * scales[:, None, :] + centers[:, None, :]).reshape(-1, 3)
    offsets = (np.arange(n) * len(verts))[:, None, None]
    if smooth:
        normals = _unit(verts[None] / scales[:, None, :] * np.ones((n, 1, 1))).reshape(-1, 3)
        tris = (faces[None] + offsets).reshape(-1, 3)
        return Mesh(points, np.arange(len(points)), normals, tris, np.repeat(feature, len(verts)))
    face_normals = _unit(np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]]))
    normals = _unit(face_normals[None] / scales[:, None, :]).repeat(3, axis=1).reshape(-1, 3)
    corner_point = (faces.ravel()[None] + offsets[:, :, 0]).ravel()
    tris = np.arange(len(corner_point)).reshape(-1, 3)
    return Mesh(points, corner_point, normals, tris, np.repeat(feature, faces.size))


def triangle_soup(triangles: np.ndarray, feature: np.ndarray) -> Mesh:
    """Flat-shaded triangles (t, 3, 3), e.g. a BIM element's TIN; degenerate ones dropped."""
    face = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    keep = np.linalg.norm(face, axis=1) > 1e-10
    triangles, face, feature = triangles[keep], face[keep], feature[keep]
    t = len(triangles)
    return Mesh(
        triangles.reshape(-1, 3),
        np.arange(3 * t),
        np.repeat(_unit(face), 3, axis=0),
        np.arange(3 * t).reshape(-1, 3),
        np.repeat(feature, 3),
    )

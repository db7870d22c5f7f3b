"""The solids: closed, outward-facing, the right volume (checked with trimesh and shapely)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import trimesh

from gis import solids


def _trimesh(mesh: solids.Mesh) -> trimesh.Trimesh:
    return trimesh.Trimesh(mesh.points, mesh.corner_point[mesh.triangles], process=True)


def test_extrusions_are_closed_with_the_footprint_volume():
    polygons = np.array(
        [
            shapely.box(0, 0, 10, 20),
            shapely.Polygon([(0, 0), (10, 0), (10, 5), (5, 5), (5, 10), (0, 10)]),  # concave: earcut
            shapely.Polygon(shapely.box(0, 0, 10, 10).exterior, [shapely.box(2, 2, 4, 4).exterior.coords]),
            shapely.Polygon([(0, 0), (0, 10), (10, 10), (10, 0)]),  # clockwise input
        ]
    )
    bottom, top = np.array([1.0, 2.0, 3.0, -4.0]), np.array([11.0, 7.0, 8.0, 2.5])
    mesh = solids.extrude_footprints(polygons, bottom, top)
    for k, polygon in enumerate(polygons):
        part = _trimesh(solids.select(mesh, np.array([k])))
        assert part.is_watertight and part.is_winding_consistent
        assert part.volume == pytest.approx(polygon.area * (top[k] - bottom[k]), rel=1e-9)  # positive: outward


def test_tube_rings_sit_on_the_radius_around_the_axis():
    coords = np.array([[0, 0, -2.0], [30, 0, -2.2], [30, 40, -2.5]])
    mesh = solids.pipe_tubes(coords, np.zeros(3, np.int64), np.array([0.25]), sides=8)
    ring = mesh.points[:24]  # three rings of eight points
    axis = shapely.LineString(coords[:, :2])
    horizontal = shapely.distance(shapely.points(ring[:, :2]), axis)
    assert np.all(horizontal <= 0.25 * 1.5)
    assert np.linalg.norm(ring[:8] - coords[0], axis=1) == pytest.approx(np.full(8, 0.25))
    assert ring[:8, 2].max() == pytest.approx(-2.0 + 0.25, abs=1e-4)  # top of the pipe (ring ⟂ the slope)
    assert _trimesh(mesh).volume > 0


def test_tunnel_sweep_volume_follows_the_section_centre_path():
    axis = np.array([[0.0, 0, -5], [50, 0, -5], [50, 50, -5]])  # a left turn of 90 degrees
    mesh = solids.tunnel_sweeps(axis, np.zeros(3, np.int64), np.array([2.0]), np.array([-1.0]), np.array([3.0]))
    part = _trimesh(mesh)
    assert part.is_watertight and part.is_winding_consistent
    # section 3 m × 3 m whose centre runs 0.5 m left of the axis: path 100 - 2 × 0.5 m
    assert part.volume == pytest.approx(9.0 * 99.0, rel=1e-9)


def test_zero_length_segments_are_dropped_before_meshing():
    coords = np.array([[0, 0, 0], [0, 0, 0.0001], [5, 0, 0], [9, 9, 9], [9, 9, 9]], float)
    kept, line = solids.dedupe_vertices(coords, np.array([0, 0, 0, 1, 1]))
    assert np.bincount(line).tolist() == [2, 1]

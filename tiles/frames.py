"""Tile frames: exact ECEF positions (pyproj) expressed in an east-north-up frame at the tile's
centre, whose 4×4 matrix becomes the tile's ``transform``; float32 local offsets stay sub-millimetre."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gis.crs import store_to_ecef, transform_columns


def bounds(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column minimum and maximum of an (n, k) array (column by column: numpy's axis-0
    reduction over narrow rows is about 20 times slower)."""
    lo = np.array([points[:, k].min() for k in range(points.shape[1])])
    hi = np.array([points[:, k].max() for k in range(points.shape[1])])
    return lo, hi


def to_ecef(points: np.ndarray) -> np.ndarray:
    """Store-CRS points with orthometric heights (n, 3) to ECEF metres (EPSG:4978)."""
    return transform_columns(store_to_ecef(), *points[:, :3].T)


def enu_rotation(ecef: np.ndarray) -> np.ndarray:
    """Columns: east, north, up unit vectors (ECEF) at a point, on the WGS 84 ellipsoid."""
    x, y, z = ecef
    lon = np.arctan2(y, x)
    # geodetic latitude by Bowring's method is exact enough for a frame's orientation
    a, f = 6378137.0, 1 / 298.257223563
    b, e2 = a * (1 - f), f * (2 - f)
    ep2 = e2 / (1 - e2)
    p = np.hypot(x, y)
    theta = np.arctan2(z * a, p * b)
    lat = np.arctan2(z + ep2 * b * np.sin(theta) ** 3, p - e2 * a * np.cos(theta) ** 3)
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)])
    up = np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    return np.column_stack([east, north, up])


@dataclass(frozen=True)
class Frame:
    """A local frame: ``ecef = origin + rotation @ local``."""

    origin: np.ndarray
    rotation: np.ndarray

    @staticmethod
    def at(ecef_points: np.ndarray) -> Frame:
        """The ENU frame at the centre of the points' bounding box."""
        lo, hi = bounds(ecef_points)
        centre = (lo + hi) / 2
        return Frame(centre, enu_rotation(centre))

    def local(self, ecef: np.ndarray) -> np.ndarray:
        return (ecef - self.origin) @ self.rotation

    def ecef(self, local: np.ndarray) -> np.ndarray:
        return local @ self.rotation.T + self.origin

    def matrix(self) -> list[float]:
        """The 4×4 transform, column-major as 3D Tiles want it."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.origin
        return [float(v) for v in m.T.ravel()]

    def normal_matrix(self, store_point: np.ndarray) -> np.ndarray:
        """Right-multiplying matrix that turns store-frame normals into this frame's (the
        inverse Jacobian of store → local at a point: grid convergence, scale, curvature)."""
        probe = store_point + np.vstack([np.zeros(3), np.eye(3)])
        local = self.local(to_ecef(probe))
        jacobian = (local[1:] - local[0]).T  # columns: d local / d store axis
        return np.linalg.inv(jacobian)


def box_corners(center: np.ndarray, half: np.ndarray) -> np.ndarray:
    """The 8 corners of an axis-aligned box given its centre and half extents (3,)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], float)
    return center + signs * half


def enclosing_box(ecef_corners: np.ndarray) -> list[float]:
    """A 3D Tiles ``box`` (ECEF) oriented east-north-up at the points' centre that contains them all."""
    frame = Frame.at(ecef_corners)
    local = frame.local(ecef_corners)
    lo, hi = bounds(local)
    centre = frame.ecef(((lo + hi) / 2)[None])[0]
    half = (hi - lo) / 2
    axes = frame.rotation * np.maximum(half, 1e-3)  # columns scaled
    return [float(v) for v in np.concatenate([centre, axes[:, 0], axes[:, 1], axes[:, 2]])]

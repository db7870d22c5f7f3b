"""Coordinate reference systems: the store CRS, exact transforms to CRS84 and ECEF.

Every vertex goes through pyproj; nothing is approximated by a local flat frame.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pyproj
import pyproj.datadir
from pyproj import CRS, Transformer

from spatial_api.errors import UserError
from spatial_api.settings import get_settings

SYSTEM_PROJ_DIR = Path("/usr/share/proj")
if SYSTEM_PROJ_DIR.is_dir():
    # Debian's proj-data carries the EGM96 geoid grid that pyproj's wheel does not.
    pyproj.datadir.append_data_dir(str(SYSTEM_PROJ_DIR))

CRS84 = CRS.from_user_input("OGC:CRS84")
ECEF = CRS.from_epsg(4978)
GEOGRAPHIC_3D = CRS.from_epsg(4979)


class CRSError(UserError):
    """A CRS that cannot be used: unknown, not projected, or without metric axes."""


def store_srid() -> int:
    """SRID of the projected metric CRS that PostGIS stores geometry in."""
    return get_settings().store_srid


@lru_cache
def store_crs() -> CRS:
    """The horizontal store CRS."""
    return CRS.from_epsg(store_srid())


@lru_cache
def store_crs_3d() -> CRS:
    """The store CRS with its vertical datum (orthometric heights)."""
    settings = get_settings()
    return CRS.from_user_input(f"EPSG:{settings.store_srid}+{settings.store_vertical_srid}")


def parse_crs(text: str | int) -> CRS:
    """Parse ``EPSG:n``, ``n`` or WKT into a CRS, with a clear error."""
    try:
        return CRS.from_user_input(int(text) if str(text).isdigit() else text)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown CRS {text!r}: give it as EPSG:n") from exc


@lru_cache(maxsize=64)
def transformer(source: CRS, target: CRS) -> Transformer:
    """A cached, best-accuracy, x/y ordered transformer."""
    return Transformer.from_crs(source, target, always_xy=True, only_best=True)


def store_to_crs84() -> Transformer:
    return transformer(store_crs(), CRS84)


def crs84_to_store() -> Transformer:
    return transformer(CRS84, store_crs())


def store_to_ecef() -> Transformer:
    """Store coordinates with orthometric heights to ECEF (EPSG:4978) metres."""
    return transformer(store_crs_3d(), ECEF)


def store_to_lonlat_h() -> Transformer:
    """Store coordinates with orthometric heights to lon, lat, ellipsoidal height (EPSG:4979)."""
    return transformer(store_crs_3d(), GEOGRAPHIC_3D)


def axis_unit_factor(crs: CRS) -> float:
    """Metres per unit of the CRS's first horizontal axis (US survey foot: 0.3048006)."""
    axis = crs.axis_info[0]
    if axis.unit_conversion_factor in (None, 0):
        raise CRSError(f"{crs.name} has no linear unit")
    return float(axis.unit_conversion_factor)

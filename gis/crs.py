"""Coordinate reference systems: the store CRS, exact transforms to CRS84 and ECEF.

Every vertex goes through pyproj; nothing is approximated by a local flat frame.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyproj
import pyproj.datadir
from pyproj import CRS, Transformer

from core.errors import UserError
from core.settings import get_settings, on_configure, store_srid

SYSTEM_PROJ_DIR = Path("/usr/share/proj")
if SYSTEM_PROJ_DIR.is_dir():
    # Debian's proj-data carries the EGM96 geoid grid that pyproj's wheel does not.
    pyproj.datadir.append_data_dir(str(SYSTEM_PROJ_DIR))

CRS84 = CRS.from_user_input("OGC:CRS84")
ECEF = CRS.from_epsg(4978)
GEOGRAPHIC_3D = CRS.from_epsg(4979)


class CRSError(UserError):
    """A CRS that cannot be used: unknown, not projected, or without metric axes."""


@lru_cache
def store_crs() -> CRS:
    """The horizontal store CRS."""
    return CRS.from_epsg(store_srid())


@lru_cache
def store_crs_3d() -> CRS:
    """The store CRS with its vertical datum (orthometric heights)."""
    settings = get_settings()
    return CRS.from_user_input(f"EPSG:{settings.store_srid}+{settings.store_vertical_srid}")


on_configure(store_crs.cache_clear)
on_configure(store_crs_3d.cache_clear)


def parse_crs(text: str | int) -> CRS:
    """Parse ``EPSG:n``, ``n`` or WKT into a CRS, with a clear error."""
    try:
        return CRS.from_user_input(int(text) if str(text).isdigit() else text)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown CRS {text!r}: give it as EPSG:n") from exc


def transformer(source: CRS, target: CRS) -> Transformer:
    """The best-accuracy, x/y ordered transformer from ``source`` to ``target``; cached by the CRSs'
    definition strings, cheap to hash."""
    return _transformer(source.srs, target.srs)


@lru_cache(maxsize=128)
def _transformer(source_srs: str, target_srs: str) -> Transformer:
    """PROJ's best operation; made from its pipeline when it is one operation (the same operation,
    but pyproj re-makes it in 0.5 ms in each thread that uses it, not by searching again, 0.3 s).
    Where PROJ picks among operations by position it stays PROJ's own transformer."""
    source, target = CRS.from_user_input(source_srs), CRS.from_user_input(target_srs)
    best = Transformer.from_crs(source, target, always_xy=True, only_best=True)
    try:
        return Transformer.from_pipeline(best.definition)
    except pyproj.exceptions.ProjError:
        return best


def transform_columns(transformer: Transformer, *columns: np.ndarray, errcheck: bool = False) -> np.ndarray:
    """``transformer`` over coordinate columns (each of n values); the (n, k) result. One point goes
    as lists: given one-element arrays pyproj takes its scalar path, whose float() of an array
    NumPy deprecates."""
    x, y, *z = (column.tolist() if np.size(column) == 1 else column for column in columns)
    if z:
        return np.column_stack(transformer.transform(x, y, z[0], errcheck=errcheck))
    return np.column_stack(transformer.transform(x, y, errcheck=errcheck))


def store_to_crs84() -> Transformer:
    return transformer(store_crs(), CRS84)


def crs84_to_store() -> Transformer:
    return transformer(CRS84, store_crs())


def store_to_ecef() -> Transformer:
    """Store coordinates with orthometric heights to ECEF (EPSG:4978) metres."""
    settings = get_settings()
    return pinned_transformer(f"EPSG:{settings.store_srid}+{settings.store_vertical_srid}", "EPSG:4978")


PIPELINE_CACHE = "proj-pipelines.json"


def _pipeline_cache_path() -> Path:
    return get_settings().data_dir / "cache" / PIPELINE_CACHE


@lru_cache(maxsize=128)
def pinned_transformer(source_srs: str, target: str) -> Transformer:
    """The best-accuracy, x/y ordered transformer from ``source_srs`` to ``target`` (any input
    pyproj takes), built from the PROJ pipeline of the operation PROJ chooses.

    Asking PROJ for the best operation (``from_crs``, searching its database and grids) takes
    0.3-1 s, and pyproj asks again in every thread that uses a transformer made that way (the API
    serves from a pool of threads); one made from a pipeline is re-made in 0.5 ms. The pipeline is
    kept in ``data_dir/cache/proj-pipelines.json`` keyed by the CRSs and the PROJ/pyproj versions.
    It is taken when PROJ's answer is one operation, or, where PROJ picks among operations by
    position, when on the miss that wrote it one operation covered the whole area of use and gave
    bit-identical results on probe points (so every vertex still goes through the same exact pyproj
    pipeline, grid included). Otherwise PROJ's own transformer is returned. For the project's own
    CRS pairs (store, terrain, georeferencing); other CRSs go through ``transformer``.
    """
    source = CRS.from_user_input(source_srs)
    key = f"{source.srs}>{target}|pyproj {pyproj.__version__}|PROJ {pyproj.proj_version_str}"
    path = _pipeline_cache_path()
    try:
        cached = json.loads(path.read_text()).get(key)
    except (OSError, ValueError):
        cached = None
    if cached:
        try:
            return Transformer.from_pipeline(cached)
        except pyproj.exceptions.ProjError:
            pass  # a grid went missing: ask PROJ again
    best = Transformer.from_crs(source, CRS.from_user_input(target), always_xy=True, only_best=True)
    horizontal = source.sub_crs_list[0] if source.is_compound else source
    pipeline = _one_operation(best) or _single_pipeline(best, horizontal)
    if pipeline:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                entries = json.loads(path.read_text())
            except (OSError, ValueError):
                entries = {}
            entries[key] = pipeline
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(entries, indent=1))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only data dir only costs the search next time
    return Transformer.from_pipeline(pipeline) if pipeline else best


def _one_operation(best: Transformer) -> str | None:
    """The pipeline of ``best`` when PROJ chose one operation for it, not several by position."""
    try:
        Transformer.from_pipeline(best.definition)
    except pyproj.exceptions.ProjError:
        return None
    return best.definition


def _single_pipeline(best: Transformer, horizontal: CRS) -> str | None:
    """The PROJ pipeline ``best`` uses everywhere in the CRS's area of use, or None when it
    may choose different operations at different points there."""
    area = horizontal.area_of_use
    if area is None:
        return None
    to_store = Transformer.from_crs(CRS84, horizontal, always_xy=True)
    lon = np.array([area.west, area.east, area.west, area.east, (area.west + area.east) / 2])
    lat = np.array([area.south, area.south, area.north, area.north, (area.south + area.north) / 2])
    lon, lat = (lon - (lon - lon.mean()) * 0.01), (lat - (lat - lat.mean()) * 0.01)  # just inside
    x, y = to_store.transform(lon, lat)
    z = np.array([0.0, 50.0, -20.0, 3000.0, 10.0])
    pipelines = set()
    for k in range(len(x)):
        best.transform(x[k], y[k], z[k])
        try:
            pipelines.add(best.get_last_used_operation().to_proj4())
        except pyproj.exceptions.ProjError:  # the probe failed (outside every operation): no pin
            return None
    if len(pipelines) != 1:
        return None
    pipeline = pipelines.pop()
    try:
        pinned = Transformer.from_pipeline(pipeline)
        same = np.array_equal(np.column_stack(pinned.transform(x, y, z)), np.column_stack(best.transform(x, y, z)))
    except pyproj.exceptions.ProjError:
        return None
    return pipeline if same else None


def _forget_transformers() -> None:
    """In a forked process: transformers made anew. A transformer holds its grid files open (the geoid's),
    and processes forked from one process share each open file's offset: forked mesh processes reading
    the geoid grid at once read each other's bytes (seen: tile frames tens of metres too low)."""
    _transformer.cache_clear()
    pinned_transformer.cache_clear()


os.register_at_fork(after_in_child=_forget_transformers)


def store_to_lonlat_h() -> Transformer:
    """Store coordinates with orthometric heights to lon, lat, ellipsoidal height (EPSG:4979)."""
    return pinned_transformer(store_crs_3d().srs, GEOGRAPHIC_3D.srs)


def axis_unit_factor(crs: CRS) -> float:
    """Metres per unit of the CRS's first horizontal axis (US survey foot: 0.3048006)."""
    axis = crs.axis_info[0]
    if axis.unit_conversion_factor in (None, 0):
        raise CRSError(f"{crs.name} has no linear unit")
    return float(axis.unit_conversion_factor)

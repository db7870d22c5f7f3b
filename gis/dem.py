"""The DEM: import a GeoTIFF into ``dem_tile`` and sample ground heights from it.

Heights are orthometric metres in the store CRS. Tiles travel as PostGIS raster WKB both ways,
so neither side needs a GDAL driver enabled in the database. In SQL, API analyses sample the same
surface with ``ST_Value(rast, 1, geom, resample => 'bilinear')`` on the tile whose extent holds the
point (``WHERE ST_Intersects(rast, geom)``).
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import cast

import numpy as np
import rasterio
from pyproj import CRS
from rasterio.errors import RasterioIOError
from rasterio.transform import Affine
from rasterio.warp import calculate_default_transform
from sqlalchemy import CursorResult, text

from core.db import get_engine, session_scope
from core.errors import UserError
from core.settings import store_srid
from gis.crs import parse_crs, store_crs, transformer

TILE_SIZE = 256
NODATA = -9999.0
PT_32BF = 10  # PostGIS raster pixel type: 32-bit float
_FLAG_HAS_NODATA = 0x40

# Metres per unit for the vertical units a DEM states (band unit or vertical CRS axis).
Z_UNITS = {
    "m": 1.0,
    "metre": 1.0,
    "meter": 1.0,
    "metres": 1.0,
    "meters": 1.0,
    "ft": 0.3048,
    "foot": 0.3048,
    "feet": 0.3048,
    "us survey foot": 1200 / 3937,
    "us-ft": 1200 / 3937,
    "ftus": 1200 / 3937,
}


@dataclass(frozen=True)
class Grid:
    """A north-up grid of heights: values (rows, cols) with NaN for nodata, upper-left corner, pixel size."""

    values: np.ndarray  # (rows, cols), NaN where no data
    ulx: float
    uly: float
    sx: float
    sy: float

    @cached_property
    def box(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the grid's pixel edges."""
        rows, cols = self.values.shape
        xs = sorted((self.ulx, self.ulx + cols * self.sx))
        ys = sorted((self.uly, self.uly + rows * self.sy))
        return xs[0], ys[0], xs[1], ys[1]

    @cached_property
    def lowest(self) -> float:
        """The lowest height in the grid (0 when it holds no data)."""
        return float(np.nanmin(self.values)) if np.isfinite(self.values).any() else 0.0


class DemError(UserError):
    """A DEM that cannot be imported or sampled."""


def _z_factor(src: rasterio.DatasetReader, source_crs: CRS, z_unit: str | None) -> tuple[float, str]:
    """Metres per stored height unit: ``z_unit`` if given, else the band's unit, else the vertical
    CRS axis, else metres."""
    vertical = source_crs.sub_crs_list[1] if source_crs.is_compound else None
    stated = z_unit or (src.units[0] if src.units and src.units[0] else None)
    if stated is None and vertical is not None:
        stated = vertical.axis_info[0].unit_name
    if stated is None:
        return 1.0, "metre (nothing stated)"
    factor = Z_UNITS.get(stated.strip().lower())
    if factor is None:
        raise DemError(f"unknown height unit {stated!r}: give z_unit as one of {sorted(set(Z_UNITS))}")
    return factor, stated


def _read_in_store_crs(path: Path, crs: str | None, z_unit: str | None) -> tuple[np.ndarray, Affine, dict]:
    """The first band as float32 metres with NaN for nodata, warped (bilinear) into the store CRS."""
    with rasterio.open(path) as src:
        if crs:
            source_crs = parse_crs(crs)
        elif src.crs is not None:
            source_crs = CRS.from_user_input(src.crs.to_wkt())
        else:
            raise DemError(f"{path.name} has no CRS: pass --crs EPSG:n")
        horizontal = source_crs.sub_crs_list[0] if source_crs.is_compound else source_crs
        factor, unit = _z_factor(src, source_crs, z_unit)
        data = src.read(1, masked=True).astype("float32").filled(np.nan)
        transform = src.transform
    data *= np.float32(factor)
    target = store_crs()
    info = {"source_crs": horizontal.to_string(), "z_unit": unit, "z_factor": factor}
    if horizontal == target:
        return data, transform, info
    height, width = data.shape
    bounds = rasterio.transform.array_bounds(height, width, transform)
    dst_transform, dst_width, dst_height = calculate_default_transform(
        horizontal.to_wkt(), target.to_wkt(), width, height, *bounds
    )
    # Every target pixel centre goes through pyproj back to the source grid, then bilinear; by bands of rows.
    source = Grid(data, transform.c, transform.f, transform.a, transform.e)
    to_source = transformer(target, horizontal)
    warped = np.empty((dst_height, dst_width), dtype="float32")
    cols = np.arange(dst_width) + 0.5
    for start in range(0, dst_height, 256):
        rows = np.arange(start, min(start + 256, dst_height)) + 0.5
        x = np.broadcast_to(dst_transform.c + cols * dst_transform.a, (len(rows), dst_width))
        y = np.broadcast_to((dst_transform.f + rows * dst_transform.e)[:, None], (len(rows), dst_width))
        sx, sy = to_source.transform(x.ravel(), y.ravel())
        warped[start : start + len(rows)] = _bilinear(source, np.column_stack([sx, sy])).reshape(len(rows), -1)
    return warped, dst_transform, info


def raster_wkb(block: np.ndarray, upper_left: tuple[float, float], scale: tuple[float, float], srid: int) -> bytes:
    """PostGIS raster WKB (little endian, one 32-bit float band, nodata ``NODATA``) of a 2D block."""
    height, width = block.shape
    header = struct.pack(
        "<BHHddddddiHH", 1, 0, 1, scale[0], scale[1], upper_left[0], upper_left[1], 0.0, 0.0, srid, width, height
    )
    band = struct.pack("<Bf", PT_32BF | _FLAG_HAS_NODATA, NODATA)
    values = np.where(np.isnan(block), np.float32(NODATA), block).astype("<f4")
    return header + band + values.tobytes()


def _parse_raster_wkb(wkb: bytes) -> tuple[np.ndarray, float, float, float, float]:
    """(values with NaN for nodata, scale_x, scale_y, upper-left x, upper-left y) of a one-band float raster."""
    if wkb[0] != 1:
        raise DemError("dem_tile holds a big-endian raster; re-import the DEM")
    _, _, _, sx, sy, ulx, uly, skx, sky, _, width, height = struct.unpack_from("<BHHddddddiHH", wkb)
    if skx or sky:
        raise DemError("dem_tile holds a skewed raster; re-import the DEM")
    flags = wkb[61]
    if flags & 0x0F != PT_32BF:
        raise DemError("dem_tile holds a raster that is not 32-bit float; re-import the DEM")
    nodata = struct.unpack_from("<f", wkb, 62)[0]
    values = np.frombuffer(wkb, dtype="<f4", count=width * height, offset=66).reshape(height, width).astype("float32")
    if flags & _FLAG_HAS_NODATA:
        values[values == nodata] = np.nan
    return values, sx, sy, ulx, uly


def import_dem(path: str | Path, crs: str | None = None, *, z_unit: str | None = None, progress=None) -> dict:
    """Import a GeoTIFF DEM as the city's ground surface, replacing any previous DEM, in one transaction.

    ``crs`` overrides the file's CRS; ``z_unit`` the height unit (band unit or vertical CRS otherwise;
    metres when nothing says). Heights are converted to metres; the raster is warped (bilinear) into
    the store CRS and cut into 256×256 tiles."""
    started = time.perf_counter()
    path = Path(path)
    if not path.is_file():
        raise DemError(f"no such DEM file: {path}")
    try:
        data, transform, info = _read_in_store_crs(path, crs, z_unit)
    except RasterioIOError as exc:
        raise DemError(f"cannot read {path.name} as a raster ({exc}): give a GeoTIFF") from exc
    if transform.b or transform.d:
        raise DemError(f"{path.name} is rotated; warp it north-up first")
    height, width = data.shape
    srid = store_srid()
    rows = []
    for row in range(0, height, TILE_SIZE):
        for col in range(0, width, TILE_SIZE):
            block = data[row : row + TILE_SIZE, col : col + TILE_SIZE]
            if np.isnan(block).all():
                continue
            ulx, uly = transform @ (col, row)
            rows.append({"source": path.name, "wkb": raster_wkb(block, (ulx, uly), (transform.a, transform.e), srid)})
    with session_scope() as session:
        replaced = cast(CursorResult, session.execute(text("DELETE FROM dem_tile"))).rowcount
        for chunk_start in range(0, len(rows), 64):
            chunk = rows[chunk_start : chunk_start + 64]
            session.execute(text("INSERT INTO dem_tile (source, rast) VALUES (:source, ST_RastFromWKB(:wkb))"), chunk)
            if progress:
                progress(len(chunk))
    _cache.clear()
    valid = data[~np.isnan(data)]
    x0, y0 = transform @ (0, 0)
    x1, y1 = transform @ (width, height)
    return {
        "file": path.name,
        "tiles": len(rows),
        "replaced_tiles": replaced,
        "size": [width, height],
        "pixel_m": [abs(transform.a), abs(transform.e)],
        "bounds": [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)],
        "crs": f"EPSG:{srid}",
        **info,
        "nodata": NODATA,
        "nodata_pixels": int(data.size - valid.size),
        "h_orthometric_range": [float(valid.min()), float(valid.max())] if valid.size else None,
        "seconds": round(time.perf_counter() - started, 3),
    }


class GridCache:
    """The DEM mosaic per database, reloaded when the set of tiles changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple, Grid | None]] = {}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get(self) -> Grid | None:
        engine = get_engine()
        key = str(engine.url)
        with engine.connect() as conn:
            stamp = tuple(conn.execute(text("SELECT count(*), max(id), min(id) FROM dem_tile")).one())
            with self._lock:
                cached = self._entries.get(key)
            if cached and cached[0] == stamp:
                return cached[1]
            wkbs = [bytes(r[0]) for r in conn.execute(text("SELECT ST_AsBinary(rast) FROM dem_tile"))]
        mosaic = _assemble([_parse_raster_wkb(w) for w in wkbs]) if wkbs else None
        with self._lock:
            self._entries[key] = (stamp, mosaic)
        return mosaic


def _assemble(tiles: list[tuple[np.ndarray, float, float, float, float]]) -> Grid:
    """Place tiles cut from one grid into one array."""
    sx, sy = tiles[0][1], tiles[0][2]
    if any(abs(t[1] - sx) > 1e-9 * abs(sx) or abs(t[2] - sy) > 1e-9 * abs(sy) for t in tiles):
        raise DemError("dem_tile mixes pixel sizes; re-import the DEM")
    ulx = min(t[3] for t in tiles)
    uly = max(t[4] for t in tiles) if sy < 0 else min(t[4] for t in tiles)
    placed = []
    for values, _, _, x, y in tiles:
        col, row = round((x - ulx) / sx), round((y - uly) / sy)
        placed.append((row, col, values))
    rows = max(r + v.shape[0] for r, _, v in placed)
    cols = max(c + v.shape[1] for _, c, v in placed)
    mosaic = np.full((rows, cols), np.nan, dtype="float32")
    for row, col, values in placed:
        mosaic[row : row + values.shape[0], col : col + values.shape[1]] = values
    return Grid(mosaic, ulx, uly, sx, sy)


_cache = GridCache()


def _bilinear(mosaic: Grid, xy: np.ndarray) -> np.ndarray:
    """Bilinear between pixel centres (constant in the outer half pixel); NaN outside the grid or where all
    four neighbours are nodata (missing neighbours are left out and the rest reweighted)."""
    out = np.full(len(xy), np.nan)
    values = mosaic.values
    rows, cols = values.shape
    fc = (xy[:, 0] - mosaic.ulx) / mosaic.sx
    fr = (xy[:, 1] - mosaic.uly) / mosaic.sy
    inside = (fc >= 0) & (fc <= cols) & (fr >= 0) & (fr <= rows)
    fc, fr = fc[inside] - 0.5, fr[inside] - 0.5
    c0, r0 = np.floor(fc).astype(int), np.floor(fr).astype(int)
    tc, tr = fc - c0, fr - r0
    total = np.zeros(len(fc))
    weight = np.zeros(len(fc))
    for dr, dc, w in ((0, 0, (1 - tr) * (1 - tc)), (0, 1, (1 - tr) * tc), (1, 0, tr * (1 - tc)), (1, 1, tr * tc)):
        v = values[np.clip(r0 + dr, 0, rows - 1), np.clip(c0 + dc, 0, cols - 1)]
        ok = ~np.isnan(v)
        total[ok] += w[ok] * v[ok]
        weight[ok] += w[ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        out[inside] = np.where(weight > 1e-12, total / weight, np.nan)
    return out


def extent() -> tuple[tuple[float, float, float, float], float] | None:
    """The DEM's box (xmin, ymin, xmax, ymax) in the store CRS and its lowest height; None without a DEM."""
    mosaic = _cache.get()
    return None if mosaic is None else (mosaic.box, mosaic.lowest)


def ground_heights(xy: np.ndarray) -> np.ndarray:
    """Orthometric ground height (m) at store-CRS points ``xy`` (n, 2), bilinear between pixel centres;
    NaN outside the DEM."""
    xy = np.asarray(xy, dtype="float64").reshape(-1, 2)
    mosaic = _cache.get()
    if mosaic is None or not len(xy):
        return np.full(len(xy), np.nan)
    return _bilinear(mosaic, xy)

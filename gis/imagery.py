"""Imagery the bureau supplies (a GeoTIFF: aerial photographs, a hillshade): imported as a
Cloud-Optimised GeoTIFF in Web Mercator under ``<data_dir>/imagery`` (GDAL's COG driver warps it),
recorded in ``imagery_layer``, and read back as 256-pixel XYZ PNG tiles (RGBA; outside the image
transparent). The sample city's stand-in is a hillshade of its DEM (:func:`hillshade`).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from PIL import Image
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds
from sqlalchemy import delete, select

from core.db import read_engine, session_scope
from core.errors import NotFound, UserError
from core.models.imagery import ImageryLayer
from core.settings import get_settings

TILE_SIZE = 256
WEB_MERCATOR = "EPSG:3857"
HALF_WORLD_M = 20037508.342789244
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_ZOOM = 22


def _checked_path(path: str | Path) -> Path:
    """The file to import: no ``..`` component, a file that exists."""
    if ".." in Path(path).parts:
        raise UserError(f"imagery path {str(path)!r} contains '..': give the file's own path")
    file = Path(path)
    if not file.is_file():
        raise UserError(f"no imagery file {str(path)!r}")
    return file


def native_zoom(res_m: float) -> int:
    """The zoom whose 256-pixel tile pixels are about the image's own (Web Mercator metres)."""
    return max(0, min(MAX_ZOOM, round(np.log2(2 * HALF_WORLD_M / TILE_SIZE / res_m))))


def import_imagery(path: str | Path, name: str | None = None) -> dict:
    """Import a georeferenced raster as imagery layer ``name`` (default: the file's stem); replaces a
    layer of that name. Returns its record as a dict."""
    file = _checked_path(path)
    name = (name or file.stem).lower()
    if not NAME.fullmatch(name):
        raise UserError(f"imagery name {name!r}: use lower-case letters, digits, '-' and '_' (up to 64)")
    try:
        src = rasterio.open(file)
    except RasterioIOError:
        raise UserError(f"{file.name} is not a raster GDAL can read: give a GeoTIFF") from None
    with src:
        if src.crs is None:
            raise UserError(f"{file.name} has no CRS: georeference it (e.g. gdal_edit.py -a_srs EPSG:4549)")
        if src.count not in (1, 3, 4) or src.dtypes[0] not in ("uint8", "uint16", "int16", "float32"):
            raise UserError(f"{file.name}: give 1 (grey), 3 (RGB) or 4 (RGBA) bands of 8 or 16 bits")
        source_crs, bands = src.crs.to_string(), src.count
        folder = get_settings().data_dir / "imagery"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.tif"
        partial = folder / f"{name}.part.tif"
        rasterio.shutil.copy(
            src, partial, driver="COG", TARGET_SRS=WEB_MERCATOR, RESAMPLING="BILINEAR", COMPRESS="DEFLATE"
        )
    with rasterio.open(partial) as cog:
        west, south, east, north = transform_bounds(cog.crs, "OGC:CRS84", *cog.bounds)
        record = ImageryLayer(
            name=name,
            source=str(file),
            path=str(target.relative_to(get_settings().data_dir)),
            source_crs=source_crs,
            bands=bands,  # the source's (the COG adds an alpha band where the warp leaves no data)
            width=cog.width,
            height=cog.height,
            west=west,
            south=south,
            east=east,
            north=north,
        )
    partial.replace(target)
    with session_scope() as session:
        session.execute(delete(ImageryLayer).where(ImageryLayer.name == name))
        session.add(record)
    return layer(name)


def _with_zoom(row: dict) -> dict:
    width_m = (row["east"] - row["west"]) / 360 * 2 * HALF_WORLD_M
    return row | {"maxzoom": native_zoom(width_m / row["width"])}


def layers() -> list[dict]:
    """Every imported layer's record (as dicts, by name) with its ``maxzoom``."""
    table = ImageryLayer.__table__
    with read_engine().connect() as conn:
        return [_with_zoom(dict(row)) for row in conn.execute(select(table).order_by(table.c.name)).mappings()]


def layer(name: str) -> dict:
    """One layer's record (read alone: every tile asks)."""
    table = ImageryLayer.__table__
    with read_engine().connect() as conn:
        found = conn.execute(select(table).where(table.c.name == name)).mappings().first()
    if found is None:
        raise NotFound(f"no imagery {name!r}; imported: {', '.join(la['name'] for la in layers()) or 'none'}")
    return _with_zoom(dict(found))


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """A Web Mercator XYZ tile's bounds in metres (west, south, east, north)."""
    size = 2 * HALF_WORLD_M / 2**z
    return (
        -HALF_WORLD_M + x * size,
        HALF_WORLD_M - (y + 1) * size,
        -HALF_WORLD_M + (x + 1) * size,
        HALF_WORLD_M - y * size,
    )


def tile_rgba(name: str, z: int, x: int, y: int) -> np.ndarray:
    """The tile as a (256, 256, 4) uint8 array: bilinear from the COG, transparent where it has no data."""
    if x >= 2**z or y >= 2**z:
        raise UserError(f"tile {z}/{x}/{y} does not exist: x and y must be below {2**z} at zoom {z}")
    record = layer(name)
    with rasterio.open(get_settings().data_dir / record["path"]) as cog:
        window = from_bounds(*tile_bounds(z, x, y), transform=cog.transform)
        data = cog.read(
            window=window,
            out_shape=(cog.count, TILE_SIZE, TILE_SIZE),
            boundless=True,
            masked=True,
            resampling=Resampling.bilinear,
        )
    values = data.filled(0)
    if values.dtype != np.uint8:
        values = np.clip(values.astype(np.float64) / 256, 0, 255)
    values = values.astype(np.uint8)
    mask = np.ma.getmaskarray(data).any(axis=0)
    grey = values.shape[0] in (1, 2)  # grey, or grey and the warp's alpha
    rgb = np.repeat(values[:1], 3, axis=0) if grey else values[:3]
    has_alpha = values.shape[0] in (2, 4)
    alpha = values[-1] if has_alpha else np.full(mask.shape, 255, np.uint8)
    alpha = np.where(mask, 0, alpha).astype(np.uint8)
    return np.dstack([*rgb, alpha])


def tile_png(name: str, z: int, x: int, y: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(tile_rgba(name, z, x, y), "RGBA").save(out, "PNG", optimize=False)
    return out.getvalue()


def hillshade(dem: Path, out: Path, azimuth_deg: float = 315.0, altitude_deg: float = 45.0) -> Path:
    """A grey hillshade GeoTIFF (uint8, the DEM's grid and CRS) of a DEM: the demo's stand-in imagery."""
    with rasterio.open(dem) as src:
        z = src.read(1, masked=True).astype(np.float64).filled(np.nan)
        dx, dy = src.res
        profile = src.profile | {"dtype": "uint8", "count": 1, "nodata": 0}
    gy, gx = np.gradient(np.nan_to_num(z, nan=np.nanmean(z)), dy, dx)
    slope = np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)
    az, alt = np.radians(360 - azimuth_deg + 90), np.radians(altitude_deg)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    grey = np.clip(1 + 254 * shade, 1, 255).astype(np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(grey, 1)
    return out

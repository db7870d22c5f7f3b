"""The sample city's ground: a flat plain 3-9 m above EGM96 with a gentle river valley (Changzhou is flat)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from gis.dem import Grid, _bilinear

H_MIN, H_MAX = 3.0, 9.0
MARGIN_M = 300.0


@dataclass(frozen=True)
class Terrain:
    """A north-up float32 height grid in the store CRS (pixel centres hold the values)."""

    heights: np.ndarray  # (rows, cols) float32, orthometric metres
    ulx: float
    uly: float
    pixel_m: float

    def ground(self, xy: np.ndarray) -> np.ndarray:
        """Orthometric ground height at store-CRS points (n, 2), bilinear like ``gis.dem.ground_heights``."""
        grid = Grid(self.heights.astype("float64"), self.ulx, self.uly, self.pixel_m, -self.pixel_m)
        return _bilinear(grid, np.asarray(xy, dtype="float64").reshape(-1, 2))

    def write_geotiff(self, path: Path, srid: int) -> Path:
        """Write the grid as a tiled, deflate-compressed float32 GeoTIFF."""
        path.parent.mkdir(parents=True, exist_ok=True)
        rows, cols = self.heights.shape
        profile = {
            "driver": "GTiff",
            "width": cols,
            "height": rows,
            "count": 1,
            "dtype": "float32",
            "crs": f"EPSG:{srid}",
            "transform": Affine(self.pixel_m, 0.0, self.ulx, 0.0, -self.pixel_m, self.uly),
            "compress": "deflate",
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(self.heights, 1)
            dst.update_tags(1, units="metre", vertical_datum="EGM96 height (EPSG:5773)")
            dst.set_band_unit(1, "metre")
        return path


def make_terrain(rng: np.random.Generator, bounds: tuple[float, float, float, float]) -> Terrain:
    """Heights over ``bounds`` (plus a margin): long gentle swells and a meandering river valley running
    west to east; 5 m pixels for a small city, 10 m beyond 4 km."""
    x0, y0, x1, y1 = bounds[0] - MARGIN_M, bounds[1] - MARGIN_M, bounds[2] + MARGIN_M, bounds[3] + MARGIN_M
    pixel = 5.0 if max(x1 - x0, y1 - y0) <= 4000 else 10.0
    cols, rows = int(np.ceil((x1 - x0) / pixel)), int(np.ceil((y1 - y0) / pixel))
    x = x0 + (np.arange(cols) + 0.5) * pixel
    y = y1 - (np.arange(rows) + 0.5) * pixel
    phase = rng.uniform(0, 2 * np.pi, 4)
    wave = rng.uniform(1500, 3000, 2)
    swell = 0.9 * np.sin(x / wave[0] + phase[0])[None, :] + 0.7 * np.cos(y / wave[1] + phase[1])[:, None]
    swell += 0.4 * np.sin((x[None, :] + y[:, None]) / 900 + phase[2])
    river_y = (y0 + y1) / 2 + rng.uniform(-0.15, 0.15) * (y1 - y0) + 180 * np.sin(x / 1300 + phase[3])
    valley = -2.4 * np.exp(-(((y[:, None] - river_y[None, :]) / 160.0) ** 2))
    heights = np.clip(6.0 + swell + valley, H_MIN, H_MAX).astype("float32")
    return Terrain(heights, x0, y1, pixel)

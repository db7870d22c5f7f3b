"""`/terrain`."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import Answer


class TerrainExtent(Answer):
    bbox: list[float] = Field(description="west, south, east, north in CRS84")
    h_orthometric_min: float
    h_ellipsoidal_min: float = Field(description="at the box's centre")


class MapGrid(Answer):
    epsg: int = Field(description="the store CRS, the city's projected grid (e.g. a CGCS2000 Gauss-Krüger zone)")
    name: str
    proj4: str = Field(description="its definition for proj4js")
    bbox: list[float] = Field(description="its area of use, west, south, east, north in CRS84")

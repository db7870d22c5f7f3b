"""`/terrain`."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import Answer


class TerrainExtent(Answer):
    bbox: list[float] = Field(description="west, south, east, north in CRS84")
    h_orthometric_min: float
    h_ellipsoidal_min: float = Field(description="at the box's centre")

"""Where the viewer flies to: shared by the search and profile answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Location(BaseModel):
    """Where the viewer flies to (``feature_location`` of migration 0005)."""

    lon: float = Field(description="CRS84 longitude of a point on the feature")
    lat: float = Field(description="CRS84 latitude")
    bbox: list[float] = Field(description="CRS84 [west, south, east, north] of its geometry")

"""`GET /health`."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import Answer


class Health(Answer):
    status: str = Field(description="ok")
    postgis: str = Field(description="PostGIS library version")
    counts: dict[str, int] = Field(description="rows per main table")

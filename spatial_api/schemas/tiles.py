"""`/tiles`: rebuilding a layer."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import QueuedJob


class TilesBuildQueued(QueuedJob):
    status: str = Field(description="the job's URL")

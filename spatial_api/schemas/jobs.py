"""`GET /jobs/{id}`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spatial_api.schemas.common import Answer, Row


class Job(Answer):
    id: str
    kind: str = Field(description="bim.ingest, review.run, tiles.build")
    status: Literal["pending_approval", "queued", "running", "succeeded", "failed", "rejected"] = Field(
        description="pending_approval: an export waiting for a second person; rejected: refused by them"
    )
    stage: str | None
    percent: float | None
    error: str | None = Field(description="why it failed, in words for the user")
    result: Row | None = Field(description="the work's summary when it succeeded")
    created_at: str
    updated_at: str

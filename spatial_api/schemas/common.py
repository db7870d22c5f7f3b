"""What the answers share: a base that keeps any field a model does not name, rows as PostgreSQL
gives them, GeoJSON, a queued job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

# A row as PostgreSQL gives it, written as FastAPI writes a plain answer (numerics as numbers).
Row = Annotated[dict[str, Any], PlainSerializer(jsonable_encoder, when_used="json")]
GeoJSON = Annotated[dict[str, Any], Field(description="GeoJSON geometry in CRS84")]


BINARY = {"schema": {"type": "string", "format": "binary"}}


def file_answer(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for an endpoint whose 200 is a file of one of these media types."""
    return {200: {"content": dict.fromkeys(media_types, BINARY)}}


class Answer(BaseModel):
    """An answer; fields it does not name pass through as they are."""

    model_config = ConfigDict(extra="allow")


class QueuedJob(Answer):
    job_id: str = Field(description="follow it at GET /api/v1/jobs/{job_id}")

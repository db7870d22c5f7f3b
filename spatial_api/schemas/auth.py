"""`/auth`: tokens and who am I."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import Answer


class Token(Answer):
    access_token: str
    token_type: str = Field(description="bearer")
    role: str


class Me(Answer):
    username: str | None
    role: str
    sees_personal_data: bool

"""`GET /ready`."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import Answer


class Ready(Answer):
    ready: bool = Field(description="true when this process may take traffic")
    checks: dict[str, bool] = Field(description="database_writable, migrations_current, queue_reachable")
    reasons: list[str] = Field(description="why it is not ready, one sentence per failed check")

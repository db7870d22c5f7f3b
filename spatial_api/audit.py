"""The audit log: every write, export and sensitive read."""

from __future__ import annotations

from fastapi import Request

from core.db import session_scope
from core.models import AuditLog
from spatial_api.security import Principal


def record(
    action: str,
    obj: str | None,
    principal: Principal,
    request: Request | None,
    result: str = "ok",
    detail: dict | None = None,
) -> None:
    """Write one audit row in its own transaction (it stays even when the action fails); ``detail``
    holds e.g. a record's before and after."""
    address = request.client.host if request is not None and request.client else None
    with session_scope() as session:
        session.add(
            AuditLog(
                username=principal.username, action=action, object=obj, address=address, result=result, detail=detail
            )
        )

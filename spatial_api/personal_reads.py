"""Reads that show people's records unmasked: audited with how many, and past the configured threshold
within the window refused until a second person approves a view grant (``POST /approvals``)."""

from __future__ import annotations

from fastapi import Request

from core.db import reads_on_primary
from core.errors import Forbidden
from core.settings import get_settings
from exports import approvals
from spatial_api import audit
from spatial_api.security import Principal


def personal_read(action: str, obj: str, principal: Principal, request: Request, records: int) -> None:
    """Audit a read; when it shows ``records`` people unmasked, count them and hold the line."""
    if not principal.sees_personal_data or not records or principal.username is None:
        audit.record(action, obj, principal, request)
        return
    allowed, viewed = approvals.may_view(principal.username, records)
    detail = {approvals.PERSONAL_RECORDS: records}
    if not allowed:
        audit.record(action, obj, principal, request, result="refused", detail=detail)
        settings = get_settings()
        raise Forbidden(
            f"you saw {viewed} people's personal data in the last {settings.personal_view_window_seconds // 60}"
            f" minutes; more than {settings.personal_view_threshold} needs a second person's approval:"
            ' ask with POST /api/v1/approvals {"kind": "view", "reason": ...}'
        )
    audit.record(action, obj, principal, request, detail=detail)


def audited_in_read(principal: Principal) -> bool:
    """Whether a read's audit row may be written by the read's own statement (one round trip, committed
    with it): on the primary, and for a caller whom the personal-view threshold does not count (it sees
    people masked, or is no user), for whom :func:`personal_read` would only write the row."""
    return reads_on_primary() and not (principal.sees_personal_data and principal.username is not None)

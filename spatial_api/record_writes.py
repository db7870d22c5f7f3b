"""One write path for records, shared by the records API (``/records/{kind}``) and OGC API Features
Part 4 on the record layers: who may write, the transaction (validation like the importer, ETag
check, linking to the map), the audit row with before and after, and the tile rebuild it queues."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from sqlalchemy import Connection

from core import jobs
from core.db import get_engine
from gis.linking import link
from records import access, spec, write
from spatial_api import audit
from spatial_api.security import Principal


def writer(kind: str, principal: Principal) -> spec.Kind:
    """The kind, if the caller's role may change it: 401 without a login, 403 for other roles."""
    found = spec.get(kind)
    if not access.may_write(principal.role, found.name):
        roles = ", ".join(access.writers(found.name))
        if principal.username is None:
            raise HTTPException(
                401, f"log in with a role that may change {kind}: {roles}", {"WWW-Authenticate": "Bearer"}
            )
        raise HTTPException(403, f"role {principal.role!r} may not change {kind}; roles that may: {roles}")
    return found


def _changed(request: Request, principal: Principal, action: str, obj: str, before: dict | None, after: dict | None):
    audit.record(action, obj, principal, request, detail={"before": before, "after": after})


def _queue_tiles(found: spec.Kind, before: dict | None, after: dict | None, username: str | None) -> None:
    """A changed geometry of a kind that links to the map: relinked already; rebuild the buildings' tiles."""
    if found.link and any((before or {}).get(g) != (after or {}).get(g) for g in found.geometry_columns):
        jobs.submit("tiles.build", {"layer": "buildings"}, username)


def _relink(conn: Connection, found: spec.Kind, key: str) -> None:
    """A project written: link the buildings on its site and it to its parcel."""
    if found.link:
        link(conn, projects=[key])


def create(
    found: spec.Kind, body: dict[str, Any], principal: Principal, request: Request
) -> tuple[str, dict[str, Any], str]:
    """Create a record (validated like an import row; 409 if its key exists): key, data, ETag."""
    with get_engine().begin() as conn:
        key, data, etag = write.create(conn, found, body, principal.username)
        _relink(conn, found, key)
    _changed(request, principal, "records.create", f"{found.name}/{key}", None, data)
    _queue_tiles(found, None, data, principal.username)
    return key, data, etag


def change(
    found: spec.Kind,
    key: str,
    body: dict[str, Any],
    if_match: str | None,
    partial: bool,
    principal: Principal,
    request: Request,
) -> tuple[dict[str, Any], str]:
    """Replace (``partial`` False) or update a record under If-Match (428 without, 412 stale): after, ETag."""
    with get_engine().begin() as conn:
        before, after, etag = write.change(conn, found, key, body, principal.username, if_match, partial)
        _relink(conn, found, key)
    _changed(request, principal, "records.update", f"{found.name}/{key}", before, after)
    _queue_tiles(found, before, after, principal.username)
    return after, etag


def delete(
    found: spec.Kind, key: str, if_match: str | None, reason: str | None, principal: Principal, request: Request
) -> None:
    """Delete a record under If-Match (kinds the law keeps: marked deleted, with the reason)."""
    with get_engine().begin() as conn:
        before = write.delete(conn, found, key, principal.username, if_match, reason)
    _changed(request, principal, "records.delete", f"{found.name}/{key}", before, None)

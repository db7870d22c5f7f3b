"""Administration (admin role only): users and roles, API keys, and the audit log (search, export,
verification). Every change is audited; changing a user ends their sessions."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import datetime

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import audit_chain, districts, sessions
from core.db import read_engine, session_scope
from core.errors import NotFound, UserError
from core.models import ApiKey, User
from core.privacy import hash_password
from core.users import USERNAME, Unacceptable, check_password, check_role
from spatial_api import audit
from spatial_api.security import API_KEY_PREFIX, SCOPES, Principal, require_role, sha256_hex

router = APIRouter(tags=["admin"])
admins = require_role("admin")


class UserOut(BaseModel):
    username: str
    role: str
    active: bool
    districts: list[str] | None
    created_at: datetime


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: str
    districts: list[str] | None = None


class UserChange(BaseModel):
    role: str | None = None
    active: bool | None = None
    districts: list[str] | None = None


class DistrictIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="e.g. 武进区")
    geometry: dict = Field(description="the boundary: a GeoJSON Polygon or MultiPolygon in CRS84")


class DistrictOut(BaseModel):
    code: str
    name: str
    area_km2: float


class PasswordReset(BaseModel):
    password: str = Field(max_length=1024)


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str
    scopes: list[str] = ["read"]


class KeyOut(BaseModel):
    prefix: str
    name: str
    role: str
    scopes: list[str]
    active: bool
    created_by: str | None
    created_at: datetime


class CreatedKey(KeyOut):
    key: str = Field(description="shown once: keep it, only its hash is stored")


class AuditRow(BaseModel):
    id: int
    at: datetime
    username: str | None
    action: str
    object: str | None
    address: str | None
    result: str


class ChainVerdict(BaseModel):
    rows: int
    ok: bool
    first_bad_id: int | None
    reason: str | None


def _user_out(user: User) -> UserOut:
    return UserOut(
        username=user.username, role=user.role, active=user.active, districts=user.districts, created_at=user.created_at
    )


@router.get("/admin/users", response_model=list[UserOut])
def list_users(principal: Principal = Depends(admins)) -> list[UserOut]:
    with session_scope() as session:
        return [_user_out(u) for u in session.scalars(select(User).order_by(User.username))]


def _check_districts(session: Session, codes: list[str] | None) -> None:
    missing = districts.unknown(session.connection(), codes or [])
    if missing:
        raise Unacceptable(f"no district {', '.join(missing)}: add it under /admin/districts first")


@router.post("/admin/users", response_model=UserOut, status_code=201)
def create_user(body: NewUser, request: Request, principal: Principal = Depends(admins)) -> UserOut:
    """A new user; the password policy applies; ``districts`` (division codes) limit their data scope."""
    if not USERNAME.match(body.username):
        raise Unacceptable("a username is 2 to 64 letters, digits or . _ @ -")
    check_role(body.role)
    check_password(body.password, body.username)
    with session_scope() as session:
        _check_districts(session, body.districts)
        if session.get(User, body.username) is not None:
            raise UserError(f"user {body.username!r} exists already")
        user = User(
            username=body.username,
            password_hash=hash_password(body.password),
            role=body.role,
            active=True,
            districts=body.districts,
            token_version=0,
        )
        session.add(user)
        session.flush()
        session.refresh(user)
        out = _user_out(user)
    audit.record("user.create", f"{body.username} role={body.role}", principal, request)
    return out


@router.patch("/admin/users/{username}", response_model=UserOut)
def change_user(username: str, body: UserChange, request: Request, principal: Principal = Depends(admins)) -> UserOut:
    """Disable or enable, change the role or the districts; the user's sessions end."""
    with session_scope() as session:
        user = session.get(User, username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        if body.role is not None:
            check_role(body.role)
            user.role = body.role
        if body.active is not None:
            user.active = body.active
        if "districts" in body.model_fields_set:
            _check_districts(session, body.districts)
            user.districts = body.districts
        session.flush()
        sessions.revoke_all(session, user)
        out = _user_out(user)
    changes = ", ".join(f"{k}={v}" for k, v in body.model_dump(exclude_unset=True).items())
    audit.record("user.change", f"{username}: {changes}", principal, request)
    return out


@router.post("/admin/users/{username}/password", status_code=204)
def reset_password(
    username: str, body: PasswordReset, request: Request, principal: Principal = Depends(admins)
) -> None:
    """Set a user's password (the policy applies); the user's sessions end."""
    check_password(body.password, username)
    with session_scope() as session:
        user = session.get(User, username)
        if user is None:
            raise NotFound(f"no user {username!r}")
        user.password_hash = hash_password(body.password)
        sessions.revoke_all(session, user)
    audit.record("user.password_reset", username, principal, request)


@router.get("/admin/districts", response_model=list[DistrictOut])
def list_districts(principal: Principal = Depends(admins)) -> list[DistrictOut]:
    """The districts users' data scopes may name."""
    sql = "SELECT code, name, ST_Area(geom) / 1e6 AS area_km2 FROM district ORDER BY code"
    with read_engine().connect() as conn:
        return [DistrictOut(**row) for row in conn.execute(text(sql)).mappings()]


@router.put("/admin/districts/{code}", response_model=DistrictOut)
def put_district(
    request: Request,
    body: DistrictIn,
    code: str = Path(pattern=districts.CODE, description="the 6- or 12-digit division code, e.g. 320412"),
    principal: Principal = Depends(admins),
) -> DistrictOut:
    """Add or replace a district's boundary."""
    with session_scope() as session:
        area_km2 = districts.save(session, code, body.name, body.geometry)
    audit.record("district.put", f"{code} {body.name}", principal, request)
    return DistrictOut(code=code, name=body.name, area_km2=area_km2)


def _key_out(key: ApiKey) -> dict:
    return {
        "prefix": key.prefix,
        "name": key.name,
        "role": key.role,
        "scopes": list(key.scopes),
        "active": key.active,
        "created_by": key.created_by,
        "created_at": key.created_at,
    }


@router.post("/admin/api-keys", response_model=CreatedKey, status_code=201)
def create_key(body: NewKey, request: Request, principal: Principal = Depends(admins)) -> CreatedKey:
    """Client credentials for another system, with a role and scopes (read, write)."""
    check_role(body.role)
    unknown = sorted(set(body.scopes) - set(SCOPES))
    if unknown or not body.scopes:
        raise Unacceptable(f"scopes are some of {', '.join(SCOPES)} (not {', '.join(unknown) or 'none'})")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with session_scope() as session:
        key = ApiKey(
            prefix=prefix,
            secret_hash=sha256_hex(secret),
            name=body.name,
            role=body.role,
            scopes=sorted(set(body.scopes)),
            created_by=principal.username,
            active=True,
        )
        session.add(key)
        session.flush()
        session.refresh(key)
        out = CreatedKey(**_key_out(key), key=f"{API_KEY_PREFIX}{prefix}.{secret}")
    audit.record("api_key.create", f"{body.name} ({prefix}) role={body.role}", principal, request)
    return out


@router.get("/admin/api-keys", response_model=list[KeyOut])
def list_keys(principal: Principal = Depends(admins)) -> list[KeyOut]:
    with session_scope() as session:
        return [KeyOut(**_key_out(k)) for k in session.scalars(select(ApiKey).order_by(ApiKey.created_at))]


@router.delete("/admin/api-keys/{prefix}", status_code=204)
def revoke_key(prefix: str, request: Request, principal: Principal = Depends(admins)) -> None:
    with session_scope() as session:
        key = session.get(ApiKey, prefix)
        if key is None:
            raise NotFound(f"no API key {prefix!r}")
        key.active = False
    audit.record("api_key.revoke", prefix, principal, request)


AUDIT_COLUMNS = ("id", "at", "username", "action", "object", "address", "result")


def audit_search_sql(
    username: str | None, action: str | None, since: datetime | None, until: datetime | None, limit: int, offset: int
) -> tuple[str, dict[str, object]]:
    """The audit search's statement and parameters; a time window reads only its months' partitions."""
    conditions: list[str] = []
    params: dict[str, object] = {"n": limit, "off": offset}
    if username is not None:
        conditions.append("username = :username")
        params["username"] = username
    if action is not None:
        conditions.append("action LIKE :action")
        params["action"] = action[:-1].replace("%", r"\%").replace("_", r"\_") + "%" if action.endswith("*") else action
    if since is not None:
        conditions.append("at >= :since")
        params["since"] = since
    if until is not None:
        conditions.append("at < :until")
        params["until"] = until
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log {where} ORDER BY id DESC LIMIT :n OFFSET :off", params


@router.get("/audit", response_model=list[AuditRow])
def search_audit(
    request: Request,
    username: str | None = Query(None),
    action: str | None = Query(None, description="exact action, or a prefix ending in * (review.*)"),
    since: datetime | None = Query(None),
    until: datetime | None = Query(None),
    limit: int = Query(100, ge=1, le=10000),
    offset: int = Query(0, ge=0),
    format: str = Query("json", pattern="^(json|csv)$"),
    principal: Principal = Depends(admins),
):
    """Search the audit log, newest first; ``format=csv`` exports (and is itself audited)."""
    sql, params = audit_search_sql(username, action, since, until, limit, offset)
    with read_engine().connect() as conn:
        found = [AuditRow(**row) for row in conn.execute(text(sql), params).mappings()]
    if format == "json":
        return found
    audit.record("audit.export", str(request.url.query), principal, request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    for row in found:
        writer.writerow([getattr(row, c) for c in AUDIT_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")


@router.get("/audit/verify", response_model=ChainVerdict)
def verify_audit(principal: Principal = Depends(admins)) -> ChainVerdict:
    """Check the audit log's hash chain: a changed or missing row is named."""
    with read_engine().connect() as conn:
        verdict = audit_chain.verify(conn)
    return ChainVerdict(**verdict.__dict__)

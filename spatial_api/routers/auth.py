"""Token login (OAuth2 password flow) and who am I."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from core.db import session_scope
from core.models import User
from core.privacy import verify_password
from spatial_api import audit
from spatial_api.schemas.auth import Me, Token
from spatial_api.security import Principal, current_principal, issue_token

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def login(request: Request, form: OAuth2PasswordRequestForm = Depends()) -> dict:
    """Exchange a username and password for a bearer token."""
    with session_scope() as session:
        user = session.get(User, form.username)
        ok = user is not None and user.active and verify_password(form.password, user.password_hash)
        role = user.role if ok and user else None
    principal = Principal(form.username, role or "public")
    audit.record("login", form.username, principal, request, "ok" if ok else "denied")
    if not ok or role is None:
        raise HTTPException(401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"})
    return {"access_token": issue_token(form.username, role), "token_type": "bearer", "role": role}


@router.get("/me", response_model=Me)
def me(principal: Principal = Depends(current_principal)) -> dict:
    """Who the bearer token says the caller is, and whether they may see personal data."""
    return {"username": principal.username, "role": principal.role, "sees_personal_data": principal.sees_personal_data}

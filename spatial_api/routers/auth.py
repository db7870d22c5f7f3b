"""Login (OAuth2 password flow) with lockout, refresh, logout, password change, and who am I."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from fastapi.security import OAuth2PasswordRequestForm

from core import logins, sessions
from core.db import session_scope
from core.models import User
from core.privacy import hash_password, verify_password
from core.settings import get_settings
from core.users import check_password
from spatial_api import audit, oidc
from spatial_api.schemas.auth import Me, PasswordChange, RefreshRequest, SsoConfig, TokenPair
from spatial_api.security import Principal, current_principal, issue_token, unauthorized

router = APIRouter(prefix="/auth", tags=["auth"])


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to check unknown usernames against, so they take as long as known ones."""
    return hash_password("no such user: the answer takes as long as for a real one")


def _pair(user: User, refresh_token: str) -> TokenPair:
    return TokenPair(
        access_token=issue_token(user.username, user.role, user.token_version),
        expires_in=get_settings().access_token_minutes * 60,
        refresh_token=refresh_token,
        role=user.role,
    )


@router.post("/token", response_model=TokenPair)
def login(request: Request, form: OAuth2PasswordRequestForm = Depends()) -> TokenPair:
    """Exchange a username and password for an access token (minutes) and a refresh token (days).
    After repeated failures the account and the address are locked for a growing time (429)."""
    address = audit.address_of(request) or "unknown"
    who = Principal(form.username, "public")
    outcome = "error"
    try:
        with session_scope() as session:
            wait = logins.locked_for(session, form.username, address)
            if wait:
                outcome = "locked"
                raise HTTPException(
                    429, f"too many failed logins: try again in {wait} s", headers={"Retry-After": str(wait)}
                )
            user = session.get(User, form.username)
            # Always one bcrypt check, against a dummy hash when the user is unknown.
            matches = verify_password(form.password, user.password_hash if user else _dummy_hash())
            if not (user is not None and user.active and matches):
                logins.record_failure(session, form.username, address)
                session.commit()
                outcome = "denied"
                raise unauthorized("wrong username or password")
            logins.record_success(session, form.username)
            pair = _pair(user, sessions.issue_refresh(session, user))
            outcome = "ok"
            who = Principal(user.username, user.role)
        return pair
    finally:
        audit.record("login", form.username, who, request, outcome)


def _callback_url(request: Request) -> str:
    return get_settings().oidc_redirect_url or str(request.url_for("oidc_callback"))


@router.get(
    "/oidc/login",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "to the identity provider's login"}, 404: {"description": "no provider set"}},
)
def oidc_login(
    request: Request,
    to: Literal["api", "viewer"] = Query("api", description="viewer: come back to the viewer signed in"),
) -> RedirectResponse:
    """Single sign-on: send the browser to the identity provider (authorization code with PKCE). Back
    from it, the callback answers the token pair, or with ``to=viewer`` sends the browser to the viewer
    with the pair in the URL's fragment (which never reaches a server), for the page to keep."""
    settings = oidc.settings_now()
    url, cookie = oidc.start(settings, _callback_url(request), viewer=to == "viewer")
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        oidc.COOKIE,
        cookie,
        max_age=oidc.COOKIE_SECONDS,
        path=request.url_for("oidc_callback").path,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/oidc", response_model=SsoConfig)
def oidc_config(request: Request) -> SsoConfig:
    """Whether single sign-on is configured, and where the viewer's button starts it."""
    settings = get_settings()
    if not (settings.oidc_issuer and settings.oidc_client_id):
        return SsoConfig(enabled=False, login_url=None)
    return SsoConfig(enabled=True, login_url=f"{request.url_for('oidc_login').path}?to=viewer")


@router.get(
    "/oidc/callback",
    response_model=TokenPair,
    responses={303: {"description": "with a login the viewer began: to the viewer, the pair in the fragment"}},
)
def oidc_callback(
    request: Request,
    code: str | None = Query(None, max_length=4096),
    state: str | None = Query(None, max_length=1024),
    error: str | None = Query(None, max_length=200),
    pending: str | None = Cookie(None, alias=oidc.COOKIE),
) -> TokenPair | RedirectResponse:
    """Where the identity provider sends the browser back: the code becomes this server's token pair,
    for the local account of the provider's user, with the role its claims map to."""
    settings = oidc.settings_now()
    who, outcome = Principal("sso", "public"), "error"
    try:
        if error is not None or code is None or state is None:
            outcome = "denied"
            raise unauthorized(f"the identity provider did not log you in ({error or 'no code'})")
        identity = oidc.identity(settings, oidc.finish(settings, _callback_url(request), pending, code, state))
        who = Principal(identity.username, identity.role)
        with session_scope() as session:
            user = oidc.account(session, identity)
            pair = _pair(user, sessions.issue_refresh(session, user))
        outcome = "ok"
        if oidc.for_viewer(settings, pending):
            fragment = urlencode({**pair.model_dump(), "username": identity.username})
            return RedirectResponse(f"/#sso&{fragment}", status_code=303)
        return pair
    except HTTPException as exc:
        outcome = "denied" if exc.status_code in (401, 403) else outcome
        raise
    finally:
        audit.record("login.sso", who.username or "", who, request, outcome)


@router.post("/refresh", response_model=TokenPair)
def refresh(body: RefreshRequest, request: Request) -> TokenPair:
    """Spend a refresh token for a new pair (each refresh token works once)."""
    with session_scope() as session:
        user, next_refresh = sessions.rotate(session, body.refresh_token)
        return _pair(user, next_refresh)


def _signed_in(principal: Principal = Depends(current_principal)) -> Principal:
    if principal.username is None or principal.scopes is not None:
        raise unauthorized("log in first (a person's session, not an API key)")
    return principal


@router.post("/logout", status_code=204)
def logout(request: Request, principal: Principal = Depends(_signed_in)) -> None:
    """End every session of the caller: its access and refresh tokens stop working."""
    with session_scope() as session:
        user = session.get(User, principal.username)
        if user is not None:
            sessions.revoke_all(session, user)
    audit.record("logout", principal.username, principal, request)


@router.post("/password", status_code=204)
def change_password(body: PasswordChange, request: Request, principal: Principal = Depends(_signed_in)) -> None:
    """Change one's own password (the policy applies); every session ends, log in again."""
    with session_scope() as session:
        user = session.get(User, principal.username)
        if user is None or not verify_password(body.old_password, user.password_hash):
            audit.record("password.change", principal.username, principal, request, "denied")
            raise HTTPException(403, "the current password is wrong")
        check_password(body.new_password, user.username)
        user.password_hash = hash_password(body.new_password)
        sessions.revoke_all(session, user)
    audit.record("password.change", principal.username, principal, request)


@router.get("/me", response_model=Me)
def me(principal: Principal = Depends(current_principal)) -> Me:
    return Me(
        username=principal.username,
        role=principal.role,
        sees_personal_data=principal.sees_personal_data,
        districts=list(principal.districts) if principal.districts is not None else None,
    )

"""`/auth`: token pairs, refresh, password change and who am I."""

from __future__ import annotations

from pydantic import BaseModel


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str
    role: str


class RefreshRequest(BaseModel):
    refresh_token: str


class PasswordChange(BaseModel):
    old_password: str
    new_password: str


class Me(BaseModel):
    username: str | None
    role: str
    sees_personal_data: bool
    districts: list[str] | None


class SsoConfig(BaseModel):
    enabled: bool
    login_url: str | None  # where the viewer's single sign-on button sends the browser

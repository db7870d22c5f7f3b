"""Users of the server."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.models import User
from core.models.ops import ROLES
from core.privacy import hash_password


def upsert_user(session: Session, username: str, password: str, role: str) -> User:
    """Create or update a user with a bcrypt-hashed password."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    user = session.get(User, username) or User(username=username)
    user.password_hash = hash_password(password)
    user.role = role
    user.active = True
    session.add(user)
    return user

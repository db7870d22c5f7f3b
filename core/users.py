"""Users of the server: creation, changes and the password policy."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from core.errors import UserError
from core.models import User
from core.models.ops import ROLES
from core.privacy import hash_password

PASSWORD_MIN_CHARS = 12
PASSWORD_MAX_CHARS = 1024
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
CHARACTER_CLASSES = (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")


class Unacceptable(UserError):
    """A password or role the policy refuses."""

    status_code = 422


def check_password(password: str, username: str) -> None:
    """The policy (等保 level 2): 12 to 1024 characters, three of lower, upper, digit and symbol, not the
    username. Raises UserError (422) saying what is missing."""
    problems = []
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        problems.append(f"{PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters")
    if sum(bool(re.search(c, password)) for c in CHARACTER_CLASSES) < 3:
        problems.append("three kinds of character out of lower case, upper case, digits and symbols")
    if username.lower() in password.lower():
        problems.append("not containing the username")
    if problems:
        raise Unacceptable("the password needs " + "; ".join(problems))


def check_role(role: str) -> None:
    if role not in ROLES:
        raise Unacceptable(f"unknown role {role!r}; one of {', '.join(ROLES)}")


def upsert_user(session: Session, username: str, password: str, role: str) -> User:
    """Create or update a user with a hashed password (the demo's and the CLI's path; no policy)."""
    check_role(role)
    user = session.get(User, username) or User(username=username, token_version=0)
    user.password_hash = hash_password(password)
    user.role = role
    user.active = True
    session.add(user)
    return user

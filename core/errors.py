"""Errors whose message tells the user what to do; the CLI prints them as one line and the
API turns them into problem+json."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a missing prerequisite, with a message fit to show as is."""

    status_code: int = 400


class NotFound(UserError):
    status_code = 404


class Forbidden(UserError):
    """The caller's role may not do this."""

    status_code = 403

"""Request body limits, enforced while the body is read (never after a whole body was stored):
multipart uploads up to ``upload_max_bytes``, every other body up to ``body_max_bytes``. A declared
Content-Length over the limit is refused before reading; a body that grows past it is cut off."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import get_settings
from spatial_api.problems import problem

# Room for the multipart framing and the small form fields around an upload at the limit.
FORM_OVERHEAD = 64 * 1024


def _limit(scope: Scope) -> int:
    settings = get_settings()
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    if content_type.startswith(b"multipart/"):
        return settings.upload_max_bytes + FORM_OVERHEAD
    return settings.body_max_bytes


class BodyLimit:
    """ASGI middleware: 413 problem+json for bodies over their limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = _limit(scope)
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await problem(413, f"the request body ({int(declared)} bytes) is over the limit of {limit} bytes")(
                scope, receive, send
            )
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes through FastAPI's body parsing unchanged (as a 413).
                    raise HTTPException(413, f"the request body is over the limit of {limit} bytes")
            return message

        await self.app(scope, counted, send)

"""Security headers on every response: a Content-Security-Policy that lets the viewer (CesiumJS:
workers from blob:, WebAssembly, data:/blob: images) load only from this server, no framing, no MIME
sniffing, no referrer leaks, and HSTS when the request came over TLS."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)
HSTS = "max-age=31536000; includeSubDomains"


@lru_cache(maxsize=4)
def content_security_policy(index_html: Path) -> str:
    """The policy, allowing the viewer page's own inline scripts by their SHA-256 (and nothing else inline)."""
    hashes = []
    if index_html.is_file():
        for body in INLINE_SCRIPT.findall(index_html.read_text(encoding="utf-8")):
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            hashes.append(f"'sha256-{digest}'")
    return "; ".join(
        [
            "default-src 'self'",
            # CesiumJS evaluates generated code and its workers import blob: scripts: 'unsafe-eval' and
            # blob:, but scripts only from this server and no inline script but the page's own (by hash).
            f"script-src 'self' blob: 'unsafe-eval' 'wasm-unsafe-eval' {' '.join(hashes)}".strip(),
            "worker-src 'self' blob:",
            "child-src 'self' blob:",
            "img-src 'self' data: blob:",
            "connect-src 'self' data: blob:",
            "font-src 'self' data:",
            # CesiumJS's widgets set style attributes.
            "style-src 'self' 'unsafe-inline'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """ASGI middleware adding the headers (pure ASGI: no per-request task, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, index_html: Path) -> None:
        self.app = app
        self.csp = content_security_policy(index_html)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.csp)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                if tls:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, with_headers)

"""uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

uvicorn binds its own socket when it runs several worker processes (``--workers``), and that socket
says protocol 0 rather than TCP, so asyncio leaves ``TCP_NODELAY`` unset on the connections it
accepts: a response written in two parts then waits for the client's delayed ACK, ~40 ms per
keep-alive request. Serve with ``--http spatial_api.http_protocol:NoDelayHttpProtocol``.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpProtocol(HttpToolsProtocol):
    """httptools' protocol, with ``TCP_NODELAY`` set on the connection's socket first."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

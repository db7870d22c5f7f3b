"""Nagle's algorithm is off on the connections of a server bound the way `uvicorn --workers` binds it
(its own socket, protocol 0, on which asyncio leaves TCP_NODELAY unset)."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from spatial_api.http_protocol import NoDelayHttpProtocol


async def _app(scope: dict, receive: object, send: object) -> None:  # never called: no request is sent
    raise AssertionError


async def _nodelay_of_accepted(protocol: type[HttpToolsProtocol]) -> int:
    """TCP_NODELAY of the server side of one accepted connection, on a socket bound as uvicorn binds it."""
    config = uvicorn.Config(_app, host="127.0.0.1", port=0, http=protocol, lifespan="off")
    config.load()
    state = ServerState()
    sock = config.bind_socket()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol(config=config, server_state=state, app_state={}), sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        while not state.connections:
            await asyncio.sleep(0)  # the accept runs on this loop's next turns
        accepted = next(iter(state.connections)).transport.get_extra_info("socket")
        value = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return value
    finally:
        server.close()


def test_uvicorns_own_socket_leaves_nagle_on_and_our_protocol_turns_it_off() -> None:
    assert asyncio.run(_nodelay_of_accepted(HttpToolsProtocol)) == 0  # why the protocol exists
    assert asyncio.run(_nodelay_of_accepted(NoDelayHttpProtocol)) != 0

"""A WebSocket server that keeps HTTP/1.1 connections open after refusing an Origin (as
gorilla, Spring, Tornado, Jetty and nginx do), with a behaviour for the next request on the
same connection: the one HTTP prescribes, or per-connection state that real servers have."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

from support.servers import POLICIES, Running
from wsaudit.probe.handshake import WEBSOCKET_GUID

BODY = b"origin not allowed\n"
# Each behaviour a server can have on the second request of a connection.
INDEPENDENT = "independent"  # what HTTP says: every request judged alone
CHUNKED = "chunked"  # the same, refusals with a chunked body
STICKY_REFUSAL = "sticky-refusal"  # after one refusal, everything on the connection refused
FIRST_ONLY = "first-request-only"  # the Origin checked on a connection's first request only
BEHAVIOURS = (INDEPENDENT, CHUNKED, STICKY_REFUSAL, FIRST_ONLY)


@dataclass
class KeepAliveServer:
    running: Running
    connections: int = 0
    requests: int = 0


def _header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _sep, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def _refusal(behaviour: str) -> bytes:
    if behaviour == CHUNKED:
        body = f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n"
        return b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    return f"HTTP/1.1 403 Forbidden\r\nContent-Length: {len(BODY)}\r\n\r\n".encode() + BODY


async def _websocket(
    head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    key = _header(head, "sec-websocket-key") or ""
    accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    await writer.drain()
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        if (await reader.readexactly(1))[0] & 0x0F == 0x8:  # the client's close frame
            writer.write(b"\x88\x00")
            await writer.drain()


@contextlib.asynccontextmanager
async def keepalive_server(
    policy: str, behaviour: str = INDEPENDENT, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[KeepAliveServer]:
    """Counts the connections and requests it served."""
    allows = POLICIES[policy]
    served: list[KeepAliveServer] = []

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served[0].connections += 1
        refused_before = False
        for request in range(100):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            served[0].requests += 1
            origin = _header(head, "origin")
            if behaviour == STICKY_REFUSAL and refused_before:
                verdict = False
            elif behaviour == FIRST_ONLY and request > 0:
                verdict = True
            else:
                verdict = allows(origin)
            if verdict:
                await _websocket(head, reader, writer)
                return
            refused_before = True
            writer.write(_refusal(behaviour))
            await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await respond(reader, writer)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    async with server:
        served.append(KeepAliveServer(Running(server.sockets[0].getsockname()[1])))
        yield served[0]

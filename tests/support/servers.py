"""Real servers on loopback for the integration tests: WebSocket servers with a given
origin policy (and real TLS), and misbehaving TCP servers."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

ALLOWED = "https://app.example.com"

OriginPolicy = Callable[[str | None], bool]


def _host(origin: str | None) -> str | None:
    return urlsplit(origin).hostname if origin else None


# Each policy is a real bug (or the fix) as found in production code.
POLICIES: dict[str, OriginPolicy] = {
    "strict": lambda origin: origin == ALLOWED,
    "none": lambda origin: True,
    "prefix": lambda origin: origin is not None and origin.startswith(ALLOWED),
    "suffix": lambda origin: origin is not None and origin.endswith("example.com"),
    "regex": lambda origin: (
        origin is not None and re.search(r"https://app.example.com", origin) is not None
    ),
    "null": lambda origin: origin in (ALLOWED, "null"),
    "host-only": lambda origin: _host(origin) == "app.example.com",
    "missing-ok": lambda origin: origin is None or origin == ALLOWED,
    "any-subdomain": lambda origin: (
        origin is not None and re.fullmatch(r"https://[a-z0-9-]+\.example\.com", origin) is not None
    ),
    "lax-host": lambda origin: (
        origin is not None
        and (found := re.match(r"https://([a-z0-9.-]+)", origin)) is not None
        and found.group(1) == "app.example.com"
    ),
    "reject-all": lambda origin: False,
}


@dataclass
class Running:
    port: int
    host: str = "127.0.0.1"

    def url(self, scheme: str = "ws", host: str | None = None, path: str = "/") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"


async def _echo(connection: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        async for message in connection:
            await connection.send(message)


@contextlib.asynccontextmanager
async def websocket_server(
    policy: str | OriginPolicy = "strict",
    *,
    ssl_context: ssl.SSLContext | None = None,
    ping_interval: float | None = None,
) -> AsyncIterator[Running]:
    allows = POLICIES[policy] if isinstance(policy, str) else policy

    def check_origin(connection: ServerConnection, request: Request) -> Response | None:
        if allows(request.headers.get("Origin")):
            return None
        return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")

    async with serve(
        _echo,
        "127.0.0.1",
        0,
        process_request=check_origin,
        ssl=ssl_context,
        ping_interval=ping_interval,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield Running(port)


@contextlib.asynccontextmanager
async def tcp_server(
    respond: Callable[[asyncio.StreamReader, asyncio.StreamWriter], object],
) -> AsyncIterator[Running]:
    """A raw TCP server whose connections are handled by `respond` (a coroutine function)."""
    tasks: set[asyncio.Task[object]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await respond(reader, writer)  # type: ignore[misc]
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield Running(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def sends_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"\x16\x03\x01\x02\x00garbage\x00\xff" * 50)
    await writer.drain()
    await asyncio.sleep(3600)


async def oversized_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\n")
    for i in range(4000):
        writer.write(f"X-Filler-{i}: {'a' * 30}\r\n".encode())
    await writer.drain()
    await asyncio.sleep(3600)


def plain_http(status: int = 200, body: bytes = b"<html>app</html>") -> Callable[..., object]:
    """An HTTP server that never upgrades (what a proxy or an SPA fallback looks like)."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        head = f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Length: {len(body)}"
        writer.write(f"{head}\r\nContent-Type: text/html\r\n\r\n".encode() + body)
        await writer.drain()

    return respond


async def resets(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    sock = writer.get_extra_info("socket")
    # SO_LINGER 0: close sends RST instead of FIN, as a crashing proxy does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()

"""Issue 12: the prober under hostile targets, on real loopback sockets. Each test plays
the attacker: a URL or a DNS answer that hides loopback or metadata inside another
spelling, a DNS server that never answers, a server that floods the socket after 101."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from support.servers import ALLOWED
from wsaudit.probe import AddressGuard, ProbeConfig, probe
from wsaudit.probe.guard import parse_network

pytestmark = pytest.mark.integration


@dataclass
class Listener:
    port: int
    connections: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def counting_listener(host: str = "127.0.0.1") -> AsyncIterator[Listener]:
    """A listener that records every connection it gets (a refused probe must make none)."""
    listener = Listener(0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        listener.connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()


def _handshake(result: object) -> tuple[str, str]:
    check = next(c for c in result.checks if c.id == "handshake")  # type: ignore[attr-defined]
    return result.cause or "", check.message  # type: ignore[attr-defined]


# What an attacker writes in a WebSocketEndpoint to reach the node's own listener.
LOOPBACK_LITERALS = [
    "2130706433",
    "017700000001",
    "0x7f000001",
    "0x7f.1",
    "127.1",
    "127.0.0.1.",
    "[::ffff:127.0.0.1]",
    "[::127.0.0.1]",
    "[::ffff:0:127.0.0.1]",
    "[64:ff9b::127.0.0.1]",
    "[64:ff9b:1::7f00:1]",
    "[2002:7f00:1::]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
    "[2001:0:7f00:1::1]",
]


@pytest.mark.parametrize("host", LOOPBACK_LITERALS)
async def test_loopback_in_any_spelling_is_refused_before_any_connection(host: str) -> None:
    async with counting_listener() as listener:
        config = ProbeConfig(url=f"ws://{host}:{listener.port}/ws", allowed_origins=(ALLOWED,))
        result = await probe(config, AddressGuard())
        await asyncio.sleep(0.05)
    cause, message = _handshake(result)
    assert cause == "target-refused", message
    assert "refused to probe" in message
    assert listener.connections == []


@pytest.mark.parametrize("host", ["[2002:7f00:1::]", "[64:ff9b:1::7f00:1]", "0x7f.1"])
async def test_deny_cidr_refuses_the_embedded_ipv4_even_with_allow_private(host: str) -> None:
    guard = AddressGuard(allow_private=True, denied=(parse_network("127.0.0.0/8"),))
    async with counting_listener() as listener:
        config = ProbeConfig(url=f"ws://{host}:{listener.port}/ws", allowed_origins=(ALLOWED,))
        result = await probe(config, guard)
        await asyncio.sleep(0.05)
    cause, message = _handshake(result)
    assert cause == "target-refused", message
    assert "127.0.0.0/8" in message
    assert listener.connections == []

"""Issue 12: the prober under hostile targets, on real loopback sockets. Each test plays
the attacker: a URL or a DNS answer that hides loopback or metadata inside another
spelling, a DNS server that never answers, a server that floods the socket after 101."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from support.servers import ALLOWED, tcp_server, websocket_server
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, probe
from wsaudit.probe.guard import Resolver, parse_network, resolve

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


# --- DNS -----------------------------------------------------------------------------

QTYPE_A, QTYPE_AAAA = 1, 28
Answers = Callable[[str, int], list[str] | None]  # name, qtype -> addresses; None: silence


class _DnsServer(asyncio.DatagramProtocol):
    """A tiny authoritative DNS server on UDP loopback: answers A/AAAA from `answers`, or
    never answers at all (None)."""

    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.queries: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        ident, _flags, qdcount = struct.unpack("!HHH", data[:6])
        labels, offset = [], 12
        while data[offset]:
            length = data[offset]
            labels.append(data[offset + 1 : offset + 1 + length].decode())
            offset += 1 + length
        qtype = struct.unpack("!H", data[offset + 1 : offset + 3])[0]
        question = data[12 : offset + 5]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        addresses = self.answers(name, qtype)
        if addresses is None or self.transport is None:
            return
        records = b""
        for text in addresses:
            packed = ipaddress.ip_address(text).packed
            rtype = QTYPE_A if len(packed) == 4 else QTYPE_AAAA
            if rtype == qtype:
                records += struct.pack("!HHHIH", 0xC00C, rtype, 1, 60, len(packed)) + packed
        count = len(records) // 16 if qtype == QTYPE_AAAA else len(records) // 14
        head = struct.pack("!HHHHHH", ident, 0x8180, qdcount, count, 0, 0)
        self.transport.sendto(head + question + records, addr)


@contextlib.asynccontextmanager
async def dns_server(answers: Answers) -> AsyncIterator[tuple[Resolver, _DnsServer]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _DnsServer(answers), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        yield Resolver(nameservers=(f"127.0.0.1:{port}",)), protocol
    finally:
        transport.close()


def _never(name: str, qtype: int) -> None:
    return None


async def test_a_dns_server_that_never_answers_ends_within_the_deadline_and_starves_no_one() -> (
    None
):
    timeout = 1.0
    async with (
        dns_server(_never) as (stalled, silent),
        dns_server(lambda name, qtype: ["127.0.0.1"]) as (normal, _answering),
        websocket_server("strict") as server,
    ):

        async def stalled_probe() -> tuple[float, object]:
            started = time.monotonic()
            config = ProbeConfig(
                url=f"ws://stalled.tenant.test:{server.port}/ws",
                allowed_origins=(ALLOWED,),
                timeout=timeout,
            )
            result = await probe(config, AddressGuard(allow_private=True), stalled)
            return time.monotonic() - started, result

        # Far more stalled lookups than the default thread pool has threads.
        stalls = [asyncio.ensure_future(stalled_probe()) for _ in range(40)]
        await asyncio.sleep(0.1)
        started = time.monotonic()
        addresses = await resolve("app.cluster.test", server.port, normal)
        lookup_seconds = time.monotonic() - started
        started = time.monotonic()
        healthy = await probe(
            ProbeConfig(url=f"ws://app.cluster.test:{server.port}/ws", allowed_origins=(ALLOWED,)),
            AddressGuard(allow_private=True),
            normal,
        )
        healthy_seconds = time.monotonic() - started
        outcomes = await asyncio.gather(*stalls)
    assert [str(a) for a in addresses] == ["127.0.0.1"]
    assert lookup_seconds < 0.2, lookup_seconds
    assert healthy.check("handshake").status is CheckStatus.PASS  # type: ignore[union-attr]
    assert healthy_seconds < timeout
    assert silent.queries  # the stalled lookups did reach the silent server
    for elapsed, result in outcomes:
        assert elapsed < timeout + 1.0, elapsed
        assert result.cause == "timeout", _handshake(result)  # type: ignore[attr-defined]
        assert "did not resolve in time" in _handshake(result)[1]
    print(
        f"40 stalled probes ended after {max(e for e, _ in outcomes):.3f} s at most "
        f"(timeout {timeout} s); a lookup beside them took {lookup_seconds * 1000:.1f} ms, "
        f"a whole healthy probe {healthy_seconds * 1000:.0f} ms"
    )


async def test_a_cancelled_lookup_closes_its_channel_at_once() -> None:
    async with dns_server(_never) as (stalled, silent):
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await resolve("stalled.tenant.test", 80, stalled)
        assert time.monotonic() - started < 0.5
        count = len(silent.queries)
        await asyncio.sleep(2.5)  # c-ares would retry here if the query were still alive
        assert len(silent.queries) == count


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["2002:7f00:1::"],
        ["64:ff9b:1::7f00:1"],
        ["::ffff:0:127.0.0.1"],
        ["2001:0:4136:e378:8000:63bf:80ff:fffe"],
        ["93.184.216.34", "2001:0:7f00:1::1"],
        ["2002:a9fe:a9fe::"],
    ],
)
async def test_dns_answers_that_carry_loopback_or_metadata_are_refused(answer: list[str]) -> None:
    async with (
        counting_listener() as listener,
        dns_server(lambda name, qtype: answer) as (resolver, _server),
    ):
        config = ProbeConfig(
            url=f"ws://rebind.attacker.test:{listener.port}/ws", allowed_origins=(ALLOWED,)
        )
        result = await probe(config, AddressGuard(), resolver)
        await asyncio.sleep(0.05)
    cause, message = _handshake(result)
    assert cause == "target-refused", message
    assert listener.connections == []


# --- Floods after 101 ----------------------------------------------------------------------


def _accept(head: bytes) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    digest = hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + base64.b64encode(digest) + b"\r\n\r\n"
    )


PING = bytes([0x89, 125]) + b"p" * 125
TEXT = bytes([0x81, 125]) + b"t" * 125
HUGE_HEAD = bytes([0x82, 127]) + struct.pack("!Q", 2**62)
LARGE = bytes([0x82, 127]) + struct.pack("!Q", 600 * 1024) + b"L" * (600 * 1024)
EMPTY = b"\x80\x00"  # empty final continuation frames: 2 bytes each
BLOCK = 256 * 1024


def flooding(kind: str) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]:
    """Answers 101 to every Origin, then writes as fast as the socket takes it: pings, small
    messages, empty frames, 600 KiB messages, or one frame that claims 2**62 bytes and
    never ends."""
    blocks = {
        "pings": PING * (BLOCK // len(PING)),
        "texts": TEXT * (BLOCK // len(TEXT)),
        "empty": EMPTY * (BLOCK // len(EMPTY)),
        "large": LARGE,
        "huge": b"\x00" * BLOCK,
    }

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(_accept(head) + (HUGE_HEAD if kind == "huge" else b""))
        block = blocks[kind]
        while True:
            writer.write(block)
            await writer.drain()

    return respond


@contextlib.asynccontextmanager
async def loop_stall_meter() -> AsyncIterator[list[float]]:
    """The longest gaps between 10 ms sleeps while the block runs: how long the event loop
    was not free to run anything else."""
    gaps: list[float] = []

    async def measure() -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - before - 0.01)

    task = asyncio.ensure_future(measure())
    await asyncio.sleep(0.02)
    try:
        yield gaps
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("kind", ["pings", "texts", "empty", "large", "huge"])
async def test_a_flood_after_101_does_not_stall_the_event_loop(kind: str) -> None:
    async with tcp_server(flooding(kind)) as server, loop_stall_meter() as gaps:
        started = time.monotonic()
        config = ProbeConfig(url=server.url(path="/ws"), allowed_origins=(ALLOWED,), timeout=5)
        result = await probe(config, AddressGuard(allow_private=True))
        elapsed = time.monotonic() - started
    stall = max(gaps)
    print(f"{kind}: longest loop stall {stall * 1000:.1f} ms over {elapsed:.2f} s")
    assert result.cause != "probe-error"
    assert stall < 0.1, f"the event loop stalled {stall * 1000:.0f} ms"
    # A watch (0.5 s) and a close wait (1 s) at most, not the whole timeout.
    assert elapsed < 2.0


@pytest.mark.parametrize("kind", ["texts", "empty", "large"])
async def test_a_flood_during_the_idle_hold_does_not_stall_the_event_loop(kind: str) -> None:
    async with tcp_server(flooding(kind)) as server, loop_stall_meter() as gaps:
        config = ProbeConfig(
            url=server.url(path="/ws"), allowed_origins=(ALLOWED,), timeout=5, idle_seconds=1
        )
        result = await probe(config, AddressGuard(allow_private=True))
    stall = max(gaps)
    print(f"{kind} while idle: longest loop stall {stall * 1000:.1f} ms")
    assert result.check("idle") is not None  # type: ignore[union-attr]
    assert stall < 0.1, f"the event loop stalled {stall * 1000:.0f} ms"

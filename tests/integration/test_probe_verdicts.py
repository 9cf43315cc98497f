"""Verdicts on real sockets for what real stacks do: refusals after 101, 101s no browser
keeps, hostile status lines, partial answers, non-ASCII input, connect-to, TLS chains."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.servers import ALLOWED, tcp_server
from support.tls import chain_context
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, ProbeConfigError, probe
from wsaudit.probe import engine as probe_engine

pytestmark = pytest.mark.integration
GUARD = AddressGuard(allow_private=True)
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

Respond = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def accept_for(head: bytes) -> str:
    key = re.search(rb"Sec-WebSocket-Key: (\S+)", head)
    assert key is not None
    return base64.b64encode(hashlib.sha1(key.group(1) + GUID.encode()).digest()).decode()


def origin_of(head: bytes) -> str | None:
    found = re.search(rb"\r\nOrigin: (\S+)", head)
    return found.group(1).decode() if found else None


def upgrade(head: bytes, extra: str = "") -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_for(head)}\r\n{extra}\r\n"
    ).encode()


def close_frame(code: int | None) -> bytes:
    payload = b"" if code is None else struct.pack("!H", code)
    return bytes([0x88, len(payload)]) + payload


def server_that(decide: Callable[[bytes], bytes | None]) -> Respond:
    """Reads one request head; writes what `decide` returns, then keeps the socket open
    (None: never answers)."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        answer = decide(head)
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        await asyncio.sleep(30)

    return respond


async def run(respond: Respond, **options: object) -> tuple[float, object]:
    async with tcp_server(respond) as server:
        started = time.monotonic()
        settings: dict[str, object] = {"allowed_origins": (ALLOWED,), **options}
        config = ProbeConfig(url=server.url(path="/ws"), **settings)  # type: ignore[arg-type]
        result = await probe(config, GUARD)
        return time.monotonic() - started, result


def statuses(result: object) -> dict[str, CheckStatus]:
    return {c.id: c.status for c in result.checks}  # type: ignore[attr-defined]


async def test_closing_untrusted_origins_right_after_101_is_a_late_refusal_not_a_hijack() -> None:
    """express-ws style: 101 to everyone, then the route middleware closes the others."""

    def decide(head: bytes) -> bytes:
        if origin_of(head) == ALLOWED:
            return upgrade(head)
        return upgrade(head) + close_frame(1008)

    _elapsed, result = await run(server_that(decide), timeout=5)
    checks = statuses(result)
    assert checks["handshake"] is CheckStatus.PASS
    assert checks["origin.foreign"] is CheckStatus.WARN
    foreign = result.check("origin.foreign")  # type: ignore[attr-defined]
    assert "refused only after the upgrade" in foreign.message
    assert foreign.details["origins"][0]["outcome"] == "closed-after-upgrade"
    assert foreign.details["origins"][0]["closeCode"] == 1008
    assert CheckStatus.FAIL not in {s for i, s in checks.items() if i.startswith("origin.")}


async def test_an_allowed_origin_closed_at_once_is_not_a_healthy_handshake() -> None:
    _elapsed, result = await run(server_that(lambda head: upgrade(head) + close_frame(None)))
    handshake = result.check("handshake")  # type: ignore[attr-defined]
    assert handshake.status is CheckStatus.FAIL
    # Every path, the random sibling too, is upgraded and closed: no route here.
    assert result.cause == "route-not-found"  # type: ignore[attr-defined]
    assert "sibling path" in handshake.message


async def test_socketio_namespace_middleware_refusal_is_read_from_the_connect_answer() -> None:
    """Engine.IO opens with `0{...}`; the client's `40` is answered `44` by io.use."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        open_packet = b'0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'
        writer.write(upgrade(head) + bytes([0x81, len(open_packet)]) + open_packet)
        await writer.drain()
        _first, second = await reader.readexactly(2)
        mask = await reader.readexactly(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(second & 0x7F)))
        assert data == b"40"
        answer = b'40{"sid":"x"}' if origin_of(head) == ALLOWED else b'44{"message":"no"}'
        writer.write(bytes([0x81, len(answer)]) + answer)
        await writer.drain()
        await asyncio.sleep(30)

    _elapsed, result = await run(respond, timeout=5)
    checks = statuses(result)
    assert checks["handshake"] is CheckStatus.PASS
    assert "Socket.IO connected" in result.check("handshake").message  # type: ignore[attr-defined]
    assert checks["origin.foreign"] is CheckStatus.WARN
    details = result.check("origin.foreign").details["origins"][0]  # type: ignore[attr-defined]
    assert details["after"] == "error-packet"
    assert details["protocol"] == "socket.io"


@pytest.mark.parametrize(
    ("upgrade_header", "words"),
    [("", "no 'Upgrade: websocket'"), ("Upgrade: h2c\r\n", "'h2c'")],
)
async def test_a_101_without_upgrade_websocket_fails_as_in_every_browser(
    upgrade_header: str, words: str
) -> None:
    def decide(head: bytes) -> bytes:
        return (
            f"HTTP/1.1 101 Switching Protocols\r\n{upgrade_header}Connection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_for(head)}\r\n\r\n"
        ).encode()

    _elapsed, result = await run(server_that(decide), timeout=3)
    assert result.cause == "invalid-upgrade"  # type: ignore[attr-defined]
    assert words in result.check("handshake").message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "answer",
    [
        "HTTP/1.1 ²01 Switching Protocols\r\n\r\n".encode(),
        b"HTTP/1.1 " + b"1" * 5000 + b" X\r\n\r\n",
        "HTTP/1.1 403 Forbidden\r\nContent-Length: ¹²\r\n\r\nno".encode(),
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: " + b"9" * 4000 + b"\r\n\r\nno",
    ],
)
async def test_hostile_digits_are_classified_not_raised(answer: bytes) -> None:
    elapsed, result = await run(server_that(lambda head: answer), timeout=2)
    assert result.check("handshake").status is CheckStatus.FAIL  # type: ignore[attr-defined]
    assert result.cause in ("not-http", "origin-not-allowed", "upgrade-rejected")  # type: ignore[attr-defined]
    assert elapsed < 3


async def test_origins_answered_only_in_part_are_partially_judged_not_passed() -> None:
    """A server that refuses one copy of a variant and never answers the other."""

    second = "https://admin.example.org"

    def decide(head: bytes) -> bytes | None:
        origin = origin_of(head)
        if origin in (ALLOWED, second):
            return upgrade(head)
        if origin and "example.org" in origin:
            return None  # the variants of the second origin hang
        return b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"

    elapsed, result = await run(server_that(decide), timeout=4, allowed_origins=(ALLOWED, second))
    check = result.check("origin.suffix-appended")  # type: ignore[attr-defined]
    assert check.status is CheckStatus.WARN
    assert "partially judged: 1 of 2 attempts got no answer within the 4 s deadline" in (
        check.message
    )
    assert elapsed < 4 + 1


async def test_non_ascii_paths_and_queries_are_sent_percent_encoded_as_browsers_do() -> None:
    seen: list[bytes] = []

    def decide(head: bytes) -> bytes:
        seen.append(head.split(b"\r\n", 1)[0])
        return upgrade(head)

    async with tcp_server(server_that(decide)) as server:
        url = f"ws://127.0.0.1:{server.port}/chät/rüm?q=ü ber&x=\u2603"
        with pytest.raises(ProbeConfigError, match="spaces or control"):
            await probe(ProbeConfig(url=url), GUARD)
        result = await probe(ProbeConfig(url=url.replace(" ", "%20"), timeout=3), GUARD)
    assert result.check("handshake").status is CheckStatus.PASS  # type: ignore[union-attr]
    assert seen[0] == b"GET /ch%C3%A4t/r%C3%BCm?q=%C3%BC%20ber&x=%E2%98%83 HTTP/1.1"


async def test_connect_to_keeps_the_name_for_host_and_origin() -> None:
    seen: list[bytes] = []

    def decide(head: bytes) -> bytes:
        seen.append(head)
        return upgrade(head)

    async with tcp_server(server_that(decide)) as server:
        result = await probe(
            ProbeConfig(
                url=f"ws://app.example.com:{server.port}/ws",
                connect_to="127.0.0.1",
                timeout=3,
            ),
            GUARD,
        )
        refused = await probe(
            ProbeConfig(url="ws://app.example.com/ws", connect_to=f"127.0.0.1:{server.port}"),
        )
    assert result.check("handshake").status is CheckStatus.PASS  # type: ignore[union-attr]
    assert f"Host: app.example.com:{server.port}".encode() in seen[0]
    assert f"Origin: http://app.example.com:{server.port}".encode() in seen[0]
    assert refused.cause == "target-refused"  # the guard applies to the connect-to address


async def test_each_origin_is_sent_as_chromium_sends_it_with_its_site_in_the_details() -> None:
    heads: dict[str | None, bytes] = {}

    def decide(head: bytes) -> bytes:
        heads[origin_of(head)] = head
        return upgrade(head)

    async with tcp_server(server_that(decide)) as server:
        result = await probe(
            ProbeConfig(url=f"ws://localhost:{server.port}/ws", allowed_origins=(ALLOWED,)),
            GUARD,
        )
    assert b"\r\nPragma: no-cache\r\n" in heads["https://wsaudit-foreign.example"]
    assert all(b"Sec-Fetch" not in head for head in heads.values())  # as Chromium
    assert b"Origin" not in heads[None]  # no Origin: a non-browser client
    foreign = result.check("origin.foreign").details["origins"][0]  # type: ignore[union-attr]
    assert foreign["site"] == "cross-site"


async def test_an_unexpected_exception_becomes_a_failed_probe_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object) -> object:
        raise UnicodeEncodeError("ascii", "é", 0, 1, "a bug")

    monkeypatch.setattr(probe_engine, "untrusted_cases", broken)
    _elapsed, result = await run(server_that(upgrade), timeout=3)
    assert result.cause == "probe-error"  # type: ignore[attr-defined]
    assert "UnicodeEncodeError" in result.check("handshake").message  # type: ignore[attr-defined]


async def test_the_expiry_that_matters_is_the_earliest_in_the_verified_chain(
    tmp_path: Path,
) -> None:
    context, root = chain_context("localhost", leaf_days=90, intermediate_days=5)
    root_file = tmp_path / "root.pem"
    root_file.write_bytes(root)

    async def accept_everything(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(upgrade(head))
        await writer.drain()
        await asyncio.sleep(30)

    server = await asyncio.start_server(accept_everything, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await probe(
            ProbeConfig(
                url=f"wss://localhost:{port}/ws",
                allowed_origins=(ALLOWED,),
                ca_file=str(root_file),
                timeout=5,
            ),
            GUARD,
        )
    finally:
        server.close()
    expiry = result.check("tls.expiry")
    assert expiry is not None
    assert expiry.status is CheckStatus.FAIL
    assert "Test Intermediate" in expiry.message
    assert expiry.details["daysLeft"] < 6


printable = st.characters(blacklist_categories=("Cs",))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.text(printable, max_size=30),
    query=st.text(printable, max_size=30),
    header=st.text(printable, max_size=30),
    origin=st.text(printable, max_size=30),
)
def test_whatever_validation_accepts_can_be_probed(
    path: str, query: str, header: str, origin: str
) -> None:
    async def scenario() -> None:
        async with tcp_server(server_that(upgrade)) as server:
            config = ProbeConfig(
                url=f"ws://127.0.0.1:{server.port}/{path}?{query}",
                allowed_origins=(f"https://{origin}.example",),
                headers=(("X-Test", header),),
                timeout=2,
                bypass_checks=False,
            )
            try:
                result = await probe(config, GUARD)
            except ProbeConfigError:
                return  # refused with a field and a reason: fine
            assert result.cause != "probe-error", result.checks
            assert result.check("handshake") is not None

    asyncio.run(scenario())


async def test_an_error_message_then_a_close_is_a_refusal_not_an_accepted_origin() -> None:
    message = b'{"error":"unauthorized"}'

    def decide(head: bytes) -> bytes:
        if origin_of(head) == ALLOWED:
            return upgrade(head) + bytes([0x81, 5]) + b"hello"  # a greeting, then open
        return upgrade(head) + bytes([0x81, len(message)]) + message + close_frame(4401)

    _elapsed, result = await run(server_that(decide), timeout=5)
    checks = statuses(result)
    assert checks["handshake"] is CheckStatus.PASS
    assert checks["origin.foreign"] is CheckStatus.WARN
    assert "4401 (unauthorised) after a message" in result.check("origin.foreign").message  # type: ignore[attr-defined]


async def test_control_requests_that_never_get_an_answer_do_not_hold_the_probe() -> None:
    """Node's http server never answers a path nobody handles: the sibling control hangs."""

    def decide(head: bytes) -> bytes | None:
        if head.startswith(b"GET /ws "):
            return b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"
        return None

    elapsed, result = await run(server_that(decide), timeout=10)
    assert result.check("handshake").status is CheckStatus.FAIL  # type: ignore[attr-defined]
    assert elapsed < 4

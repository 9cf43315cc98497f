"""Broken and hostile endpoints: each yields a classified result within its timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from support.nginx import nginx_proxy
from support.servers import (
    ALLOWED,
    never_answers,
    oversized_headers,
    plain_http,
    resets,
    sends_garbage,
    tcp_server,
    websocket_server,
)
from support.tls import server_context
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, probe

pytestmark = pytest.mark.integration
GUARD = AddressGuard(allow_private=True)


@pytest.mark.parametrize(
    ("respond", "cause", "deadline"),
    [
        (never_answers, "timeout", 1.5),
        (sends_garbage, "not-http", 5),
        (oversized_headers, "headers-too-large", 5),
        (resets, "connection-reset", 5),
        (plain_http(200), "upgrade-ignored", 5),
        (plain_http(404), "route-not-found", 5),
        (plain_http(502), "backend-unavailable", 5),
        (plain_http(401), "auth-required", 5),
    ],
)
async def test_misbehaving_server_is_classified_within_the_timeout(
    respond: Callable[..., object], cause: str, deadline: float
) -> None:
    async with tcp_server(respond) as server:
        started = time.monotonic()
        result = await probe(
            ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,), timeout=deadline), GUARD
        )
        elapsed = time.monotonic() - started
    assert result.cause == cause
    assert result.failed
    assert result.check("handshake").status is CheckStatus.FAIL  # type: ignore[union-attr]
    assert elapsed < deadline + 1.5


async def test_redirect_is_not_followed_and_the_location_is_named() -> None:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 301 Moved\r\nLocation: https://elsewhere.example/ws\r\n\r\n")
        await writer.drain()

    async with tcp_server(redirect) as server:
        result = await probe(ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,)), GUARD)
    assert result.cause == "redirect"
    assert "https://elsewhere.example/ws" in result.check("handshake").message  # type: ignore[union-attr]


async def test_wrong_accept_from_a_middlebox_is_named() -> None:
    async def wrong_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: bm90LXJpZ2h0\r\n\r\n"
        )
        await writer.drain()

    async with tcp_server(wrong_accept) as server:
        result = await probe(ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,)), GUARD)
    assert result.cause == "bad-accept"
    assert "Sec-WebSocket-Accept" in result.check("handshake").message  # type: ignore[union-attr]
    # A broken handshake proves nothing about origin policy.
    assert result.check("origin.foreign").status is CheckStatus.SKIP  # type: ignore[union-attr]


async def test_response_bodies_never_reach_the_result() -> None:
    secret = b"internal-stack-trace-secret"
    async with tcp_server(plain_http(403, secret)) as server:
        result = await probe(ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,)), GUARD)
    assert secret.decode() not in str(result.to_dict())


async def test_connection_refused_is_classified() -> None:
    async with tcp_server(never_answers) as server:
        port = server.port
    result = await probe(ProbeConfig(url=f"ws://127.0.0.1:{port}/", timeout=3), GUARD)
    assert result.cause == "connection-refused"


async def test_guard_refuses_loopback_at_once_without_connecting() -> None:
    async with websocket_server("strict") as server:
        started = time.monotonic()
        result = await probe(ProbeConfig(url=server.url(host="127.0.0.1")))
    assert time.monotonic() - started < 0.5
    assert result.cause == "target-refused"
    assert "loopback" in result.check("handshake").message  # type: ignore[union-attr]
    assert result.address is None


async def test_unresolvable_host_is_a_dns_failure() -> None:
    result = await probe(ProbeConfig(url="wss://does-not-exist.invalid/ws", timeout=5))
    assert result.cause == "dns-failure"


async def test_valid_tls_passes_every_tls_check(ca: trustme.CA, ca_file: Path) -> None:
    async with websocket_server("strict", ssl_context=server_context(ca, "localhost")) as server:
        result = await probe(
            ProbeConfig(
                url=server.url("wss", host="localhost"),
                allowed_origins=(ALLOWED,),
                ca_file=str(ca_file),
            ),
            GUARD,
        )
    statuses = {c.id: c.status for c in result.checks}
    assert statuses["tls.scheme"] is CheckStatus.PASS
    assert statuses["tls.certificate"] is CheckStatus.PASS
    assert statuses["tls.expiry"] is CheckStatus.PASS
    assert statuses["handshake"] is CheckStatus.PASS
    assert result.check("tls.certificate").details["tlsVersion"].startswith("TLSv1.")  # type: ignore[union-attr]
    assert not result.failed
    assert {"dns", "connect", "tls", "handshake", "total"} <= set(result.timings)


async def test_expired_certificate_fails_with_the_date(ca: trustme.CA, ca_file: Path) -> None:
    context = server_context(ca, "localhost", valid_days=-2)
    async with websocket_server("strict", ssl_context=context) as server:
        result = await probe(
            ProbeConfig(url=server.url("wss", host="localhost"), ca_file=str(ca_file)), GUARD
        )
    assert result.check("tls.certificate").status is CheckStatus.FAIL  # type: ignore[union-attr]
    assert "expired" in result.check("tls.certificate").message  # type: ignore[union-attr]
    expiry = result.check("tls.expiry")
    assert expiry is not None
    assert expiry.status is CheckStatus.FAIL
    assert "expired 2 days ago" in expiry.message
    assert result.cause == "tls-failure"


async def test_certificate_expiring_soon_fails_the_threshold(ca: trustme.CA, ca_file: Path) -> None:
    context = server_context(ca, "localhost", valid_days=5)
    async with websocket_server("strict", ssl_context=context) as server:
        url = server.url("wss", host="localhost")
        strict = await probe(
            ProbeConfig(url=url, allowed_origins=(ALLOWED,), ca_file=str(ca_file)), GUARD
        )
        relaxed = await probe(
            ProbeConfig(
                url=url, allowed_origins=(ALLOWED,), ca_file=str(ca_file), min_certificate_days=3
            ),
            GUARD,
        )
    assert strict.check("tls.expiry").status is CheckStatus.FAIL  # type: ignore[union-attr]
    assert relaxed.check("tls.expiry").status is CheckStatus.PASS  # type: ignore[union-attr]
    assert strict.check("handshake").status is CheckStatus.PASS  # type: ignore[union-attr]


async def test_wrong_hostname_is_named_with_the_fix(ca: trustme.CA, ca_file: Path) -> None:
    context = server_context(ca, "other.example")
    async with websocket_server("strict", ssl_context=context) as server:
        result = await probe(
            ProbeConfig(url=server.url("wss", host="localhost"), ca_file=str(ca_file)), GUARD
        )
    check = result.check("tls.certificate")
    assert check is not None
    assert check.status is CheckStatus.FAIL
    assert "subjectAltName covers localhost" in check.message
    assert check.details["dnsNames"] == ["other.example"]


async def test_unknown_ca_fails_and_insecure_mode_skips_verification(ca: trustme.CA) -> None:
    async with websocket_server("strict", ssl_context=server_context(ca, "localhost")) as server:
        url = server.url("wss", host="localhost")
        verified = await probe(ProbeConfig(url=url, allowed_origins=(ALLOWED,)), GUARD)
        insecure = await probe(
            ProbeConfig(url=url, allowed_origins=(ALLOWED,), insecure_skip_verify=True), GUARD
        )
    assert verified.check("tls.certificate").status is CheckStatus.FAIL  # type: ignore[union-attr]
    assert "tls.caSecretRef" in verified.check("tls.certificate").message  # type: ignore[union-attr]
    assert insecure.check("tls.certificate").status is CheckStatus.SKIP  # type: ignore[union-attr]
    assert insecure.check("tls.expiry").status is CheckStatus.PASS  # type: ignore[union-attr]
    assert insecure.check("handshake").status is CheckStatus.PASS  # type: ignore[union-attr]


async def test_plain_http_port_probed_with_wss_is_classified() -> None:
    async with websocket_server("strict") as server:
        result = await probe(
            ProbeConfig(url=server.url("wss"), allowed_origins=(ALLOWED,), timeout=3), GUARD
        )
    assert result.cause in ("tls-failure", "connection-reset")
    assert result.failed


async def test_idle_connection_cut_by_the_server_is_reported() -> None:
    async with tcp_server(never_answers):
        pass

    async def closes_after_one_second(connection: object) -> None:
        await asyncio.sleep(1)

    from websockets.asyncio.server import serve

    async with serve(closes_after_one_second, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        result = await probe(
            ProbeConfig(url=f"ws://127.0.0.1:{port}/", idle_seconds=3, timeout=3), GUARD
        )
    idle = result.check("idle")
    assert idle is not None
    assert idle.status is CheckStatus.FAIL
    assert 0.8 < idle.details["heldSeconds"] < 2.5


@pytest.mark.parametrize(
    ("mode", "cause"),
    [("upgrade", None), ("no-upgrade", "upgrade-not-forwarded")],
)
async def test_through_real_nginx(tmp_path: Path, mode: str, cause: str | None) -> None:
    async with websocket_server("strict") as backend:
        with nginx_proxy(tmp_path, backend.port, mode) as port:
            result = await probe(
                ProbeConfig(url=f"ws://127.0.0.1:{port}/", allowed_origins=(ALLOWED,)), GUARD
            )
    assert result.cause == cause
    handshake = result.check("handshake")
    assert handshake is not None
    if cause:
        assert "proxy_set_header Upgrade" in handshake.message
        assert handshake.details.get("server", "").startswith("nginx")
    else:
        assert handshake.status is CheckStatus.PASS
        assert result.check("origin.foreign").status is CheckStatus.PASS  # type: ignore[union-attr]


async def test_idle_check_catches_nginx_short_read_timeout(tmp_path: Path) -> None:
    async with websocket_server("strict") as backend:
        with nginx_proxy(tmp_path, backend.port, "short-read-timeout") as port:
            cut = await probe(
                ProbeConfig(
                    url=f"ws://127.0.0.1:{port}/", allowed_origins=(ALLOWED,), idle_seconds=4
                ),
                GUARD,
            )
        with nginx_proxy(tmp_path / "long", backend.port, "upgrade") as port:
            kept = await probe(
                ProbeConfig(
                    url=f"ws://127.0.0.1:{port}/", allowed_origins=(ALLOWED,), idle_seconds=4
                ),
                GUARD,
            )
    assert cut.check("idle").status is CheckStatus.FAIL  # type: ignore[union-attr]
    assert "proxy_read_timeout" in cut.check("idle").message  # type: ignore[union-attr]
    assert 1.5 < cut.check("idle").details["heldSeconds"] < 3.5  # type: ignore[union-attr]
    assert kept.check("idle").status is CheckStatus.PASS  # type: ignore[union-attr]

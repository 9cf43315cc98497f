"""The haproxy-ingress rules' claims, measured on a real HAProxy (Debian's) in front of a real
WebSocket server, with the `timeout` lines HAProxy Ingress renders for an Ingress:

- once a WebSocket is upgraded HAProxy is in tunnel mode and `timeout tunnel` alone bounds
  an idle connection: a short one cuts it, a short `timeout server` no longer does;
- a bare number in haproxy.cfg is milliseconds (`timeout tunnel 2000` is 2 s), but HAProxy
  Ingress drops a bare number from its annotation (updater.go:103-115), so the backend gets
  no `timeout tunnel` line and the 1 h default applies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from support import haproxy
from support.servers import ALLOWED, never_answers, tcp_server, websocket_server
from wsaudit.audit import audit_ingress
from wsaudit.audit.controllers.haproxy_ingress import PREFIX, parse_time

pytestmark = pytest.mark.integration

if (reason := haproxy.available()) is not None:
    pytest.skip(reason, allow_module_level=True)


def rendered_backend(annotations: Mapping[str, str]) -> dict[str, str]:
    """The backend `timeout` lines HAProxy Ingress writes for these annotations: a valid
    time as written (backend.go:1129-1136, haproxy.tmpl:370-378), an invalid one omitted."""
    lines = {}
    for name in ("server", "tunnel"):
        value = annotations.get(f"{PREFIX}timeout-{name}")
        if value is not None and parse_time(value) is not None:
            lines[name] = value
    return lines


async def idle_lifetime(port: int, limit: float) -> float | None:
    """Opens a WebSocket through the proxy, checks it echoes, stays quiet and returns how
    long after the upgrade the proxy closed it (None: still open after `limit` s)."""
    async with connect(
        f"ws://127.0.0.1:{port}/", origin=ALLOWED, ping_interval=None, open_timeout=5
    ) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 5) == "hello"
        started = time.monotonic()
        try:
            await asyncio.wait_for(ws.recv(), limit)
        except ConnectionClosed:
            return time.monotonic() - started
        except TimeoutError:
            return None
    raise AssertionError("the server sent a message nobody asked for")


async def http_status(port: int) -> tuple[int, float]:
    """The status of a plain GET through the proxy and how long it took."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: feed.example.com\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    return int(status_line.split()[1]), time.monotonic() - started


async def test_short_timeout_tunnel_cuts_an_idle_websocket(tmp_path: Path) -> None:
    annotations = {f"{PREFIX}timeout-tunnel": "2s"}
    assert "haproxy-ingress.timeout-tunnel" in _rules(annotations)
    async with websocket_server() as backend:
        with haproxy.haproxy_proxy(tmp_path, backend.port, rendered_backend(annotations)) as port:
            closed = await idle_lifetime(port, 10)
    assert closed is not None and 1.8 <= closed <= 4, closed


async def test_timeout_server_does_not_cut_a_tunnelled_websocket(tmp_path: Path) -> None:
    annotations = {f"{PREFIX}timeout-server": "1s", f"{PREFIX}timeout-tunnel": "6s"}
    backend_lines = rendered_backend(annotations)
    assert backend_lines == {"server": "1s", "tunnel": "6s"}
    async with websocket_server() as backend:
        with haproxy.haproxy_proxy(tmp_path / "ws", backend.port, backend_lines) as port:
            closed = await idle_lifetime(port, 12)
    # Quiet far longer than timeout server (1 s): only timeout tunnel (6 s) closes it.
    assert closed is not None and 5.8 <= closed <= 8, closed
    # The same timeout server does cut a request whose backend never answers (504 after 1 s):
    # it is in effect, just not once the connection is a tunnel.
    async with tcp_server(never_answers) as silent:
        with haproxy.haproxy_proxy(tmp_path / "http", silent.port, backend_lines) as port:
            status, waited = await http_status(port)
    assert status == 504 and 0.8 <= waited <= 3, (status, waited)


async def test_a_bare_number_is_milliseconds_in_haproxy_cfg(tmp_path: Path) -> None:
    async with websocket_server() as backend:
        with haproxy.haproxy_proxy(tmp_path, backend.port, {"tunnel": "2000"}) as port:
            closed = await idle_lifetime(port, 10)
    assert closed is not None and 1.8 <= closed <= 4, closed  # 2000 ms, not 2000 s


async def test_haproxy_ingress_drops_a_bare_number_so_the_default_applies(
    tmp_path: Path,
) -> None:
    annotations = {f"{PREFIX}timeout-tunnel": "2000"}
    assert rendered_backend(annotations) == {}  # no `timeout tunnel` line for the backend
    assert "haproxy-ingress.timeout-tunnel-invalid" in _rules(annotations)
    async with websocket_server() as backend:
        with haproxy.haproxy_proxy(tmp_path, backend.port, rendered_backend(annotations)) as port:
            closed = await idle_lifetime(port, 5)
    # Had the controller read it as its docs say (2000 ms), the tunnel would close at 2 s;
    # the defaults section's `timeout tunnel 1h` keeps it open.
    assert closed is None


def _rules(annotations: Mapping[str, str]) -> set[str]:
    obj = {
        "kind": "Ingress",
        "metadata": {"name": "feed", "namespace": "prod", "annotations": dict(annotations)},
        "spec": {
            "ingressClassName": "haproxy",
            "tls": [{"hosts": ["feed.example.com"], "secretName": "feed-tls"}],
            "rules": [
                {
                    "host": "feed.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/ws",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "feed", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    return {f.rule for f in audit_ingress(obj).findings}

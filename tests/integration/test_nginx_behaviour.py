"""The nginx-family rules' claims, measured on a real nginx (Debian's) in front of a real
WebSocket server, with the directives ingress-nginx renders for an Ingress's annotations
(rootfs/etc/nginx/template/nginx.tmpl: the `$connection_upgrade` map, and in each location
`proxy_set_header Upgrade/Connection`, `proxy_send_timeout`/`proxy_read_timeout`,
`proxy_http_version`, then the configuration-snippet):

- on an upgraded connection nginx arms proxy_send_timeout only while a write to the backend
  is blocked: a 2 s send timeout leaves a 5 s idle WebSocket open; a 2 s read timeout closes
  it, and traffic from the client alone keeps it open (ngx_http_upstream_process_upgraded);
- a directive the template already sets, repeated in a configuration-snippet, makes
  `nginx -t` fail ("directive is duplicate"): the admission webhook rejects the Ingress;
- connection-proxy-header ("keep-alive") replaces `Connection: upgrade`: handshakes fail;
- proxy_set_header in a snippet adds a second header instead of overriding the template's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from support import manifests
from support.nginx import nginx_config_test, nginx_running
from support.processes import free_port
from support.servers import ALLOWED, Running, tcp_server, websocket_server
from wsaudit.audit import audit_ingress
from wsaudit.audit.controllers.ingress_nginx import LOCATION_DIRECTIVES, PREFIX
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, probe

pytestmark = pytest.mark.integration
GUARD = AddressGuard(allow_private=True)

# The template's map (nginx.tmpl, `map $http_upgrade $connection_upgrade`, keepalive on).
MAP = """
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' '';
    }
"""


def rendered_location(annotations: Mapping[str, str], backend_port: int) -> str:
    """The proxy location ingress-nginx writes for these annotations (the lines that matter
    here, in the template's order; an invalid number falls back to the 60 s default)."""

    def seconds(name: str) -> str:
        value = annotations.get(f"{PREFIX}{name}", "60")
        return value if value.isdigit() else "60"

    connection = annotations.get(f"{PREFIX}connection-proxy-header", "$connection_upgrade")
    return f"""
        location / {{
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection {connection};
            proxy_send_timeout {seconds("proxy-send-timeout")}s;
            proxy_read_timeout {seconds("proxy-read-timeout")}s;
            proxy_http_version {annotations.get(f"{PREFIX}proxy-http-version", "1.1")};
            {annotations.get(f"{PREFIX}configuration-snippet", "")}
            proxy_pass http://127.0.0.1:{backend_port};
        }}
    """


def ingress(annotations: Mapping[str, str]) -> dict[str, object]:
    return manifests.ingress("nginx", dict(annotations))


def fired(annotations: Mapping[str, str]) -> dict[str, str]:
    """rule -> severity of what wsaudit says about these annotations."""
    return {f.rule: f.severity.label for f in audit_ingress(ingress(annotations)).findings}


@contextlib.contextmanager
def ingress_nginx(workdir: Path, annotations: Mapping[str, str], backend: int) -> Iterator[int]:
    port = free_port()
    server = f"server {{ listen 127.0.0.1:{port}; {rendered_location(annotations, backend)} }}"
    with nginx_running(workdir, MAP + server, [port]):
        yield port


@contextlib.asynccontextmanager
async def sink_server() -> AsyncIterator[Running]:
    """A WebSocket server that reads and never sends (so only the client makes traffic)."""

    async def sink(connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in connection:
                pass

    async with serve(sink, "127.0.0.1", 0, ping_interval=None) as server:
        yield Running(next(iter(server.sockets)).getsockname()[1])


async def held_open(port: int, idle: float) -> tuple[bool, float]:
    """Opens a WebSocket, stays idle for `idle` s, then echoes: (still open, seconds held)."""
    started = time.monotonic()
    origin = Origin(ALLOWED)
    async with connect(
        f"ws://127.0.0.1:{port}/", origin=origin, ping_interval=None, open_timeout=5
    ) as ws:
        try:
            await asyncio.wait_for(ws.recv(), idle)
        except TimeoutError:
            pass  # nothing arrived: still open after `idle` s
        except ConnectionClosed:
            return False, time.monotonic() - started
        try:
            await ws.send("still there?")
            return await asyncio.wait_for(ws.recv(), 3) == "still there?", idle
        except ConnectionClosed:
            return False, time.monotonic() - started


async def test_a_short_send_timeout_leaves_an_idle_websocket_open(tmp_path: Path) -> None:
    annotations = {f"{PREFIX}proxy-read-timeout": "3600", f"{PREFIX}proxy-send-timeout": "2"}
    assert fired(annotations).get("ingress-nginx.proxy-send-timeout") == "info"
    assert "ingress-nginx.proxy-read-timeout" not in fired(annotations)
    async with websocket_server("strict") as backend:
        with ingress_nginx(tmp_path, annotations, backend.port) as port:
            still_open, _ = await held_open(port, 5)
    assert still_open


async def test_a_short_read_timeout_closes_an_idle_websocket(tmp_path: Path) -> None:
    annotations = {f"{PREFIX}proxy-read-timeout": "2", f"{PREFIX}proxy-send-timeout": "3600"}
    assert fired(annotations).get("ingress-nginx.proxy-read-timeout") == "warning"
    async with websocket_server("strict") as backend:
        with ingress_nginx(tmp_path, annotations, backend.port) as port:
            still_open, held = await held_open(port, 5)
            probed = await probe(
                ProbeConfig(
                    url=f"ws://127.0.0.1:{port}/", allowed_origins=(ALLOWED,), idle_seconds=4
                ),
                GUARD,
            )
    assert not still_open
    assert 1.5 < held < 3.5
    idle = probed.check("idle")
    assert idle is not None and idle.status is CheckStatus.FAIL


async def test_client_traffic_alone_resets_the_read_timeout(tmp_path: Path) -> None:
    """The backend never sends; the client sends every second for 6 s through a 2 s
    proxy_read_timeout: the connection stays open (traffic either way re-arms it)."""
    annotations = {f"{PREFIX}proxy-read-timeout": "2"}
    async with sink_server() as backend:
        with ingress_nginx(tmp_path, annotations, backend.port) as port:
            async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
                for _ in range(6):
                    await ws.send("tick")
                    await asyncio.sleep(1)
                await ws.send("tick")
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0.5)  # open: nothing to read, no close
                # Then silence from both sides: the read timeout closes it.
                started = time.monotonic()
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 5)
                assert 1.5 < time.monotonic() - started < 3.5


@pytest.mark.parametrize(
    ("snippet", "accepted"),
    [
        ("proxy_http_version 1.1;", False),
        ("proxy_http_version 1.0;", False),
        ("proxy_read_timeout 3600s;", False),
        ('proxy_set_header Connection "upgrade";', True),
        ("add_header X-Frame-Options DENY;", True),
    ],
)
def test_a_directive_the_template_sets_is_duplicate_in_a_snippet(
    tmp_path: Path, snippet: str, accepted: bool
) -> None:
    annotations = {f"{PREFIX}proxy-read-timeout": "3600", f"{PREFIX}configuration-snippet": snippet}
    ok, output = nginx_config_test(
        tmp_path,
        MAP + f"server {{ listen 127.0.0.1:{free_port()}; {rendered_location(annotations, 9)} }}",
    )
    assert ok is accepted, output
    assert ("is duplicate" in output) is not accepted
    assert ("ingress-nginx.snippet-duplicate-directive" in fired(annotations)) is not accepted


@pytest.mark.parametrize("directive", sorted(LOCATION_DIRECTIVES))
def test_every_directive_the_rule_names_is_rejected_twice(tmp_path: Path, directive: str) -> None:
    values = {
        "proxy_buffering": "on",
        "proxy_request_buffering": "on",
        "proxy_buffer_size": "4k",
        "proxy_buffers": "4 4k",
        "proxy_http_version": "1.1",
        "proxy_next_upstream_tries": "3",
    }
    line = f"{directive} {values.get(directive, '5s')};"
    location = f"location / {{ {line} {line} proxy_pass http://127.0.0.1:9; }}"
    ok, output = nginx_config_test(
        tmp_path, f"server {{ listen 127.0.0.1:{free_port()}; {location} }}"
    )
    assert not ok and f'"{directive}" directive is duplicate' in output, output


async def test_connection_proxy_header_keep_alive_breaks_every_handshake(tmp_path: Path) -> None:
    broken = {
        f"{PREFIX}proxy-read-timeout": "3600",
        f"{PREFIX}connection-proxy-header": "keep-alive",
    }
    assert fired(broken).get("ingress-nginx.connection-proxy-header") == "error"
    async with websocket_server("strict") as backend:
        with ingress_nginx(tmp_path, broken, backend.port) as port:
            failed = await probe(
                ProbeConfig(url=f"ws://127.0.0.1:{port}/", allowed_origins=(ALLOWED,)), GUARD
            )
        fixed = {f"{PREFIX}proxy-read-timeout": "3600"}
        with ingress_nginx(tmp_path / "fixed", fixed, backend.port) as port:
            passed = await probe(
                ProbeConfig(url=f"ws://127.0.0.1:{port}/", allowed_origins=(ALLOWED,)), GUARD
            )
    handshake = failed.check("handshake")
    assert handshake is not None and handshake.status is CheckStatus.FAIL, failed
    ok = passed.check("handshake")
    assert ok is not None and ok.status is CheckStatus.PASS


async def _received_head(port: int, seen: asyncio.Queue[bytes]) -> list[str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: chat.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(seen.get(), 5)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await reader.read()
    return head.decode().split("\r\n")


@pytest.mark.parametrize(
    ("snippet", "connection_lines"),
    [
        ('proxy_set_header Connection "close";', ["Connection: upgrade", "Connection: close"]),
        ('proxy_set_header Connection "";', ["Connection: upgrade"]),
    ],
)
async def test_proxy_set_header_in_a_snippet_adds_a_second_header(
    tmp_path: Path, snippet: str, connection_lines: list[str]
) -> None:
    annotations = {f"{PREFIX}proxy-read-timeout": "3600", f"{PREFIX}configuration-snippet": snippet}
    assert fired(annotations).get("ingress-nginx.snippet-header-added") == "info"
    seen: asyncio.Queue[bytes] = asyncio.Queue()

    async def capture(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await seen.put(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with tcp_server(capture) as backend:
        with ingress_nginx(tmp_path, annotations, backend.port) as port:
            lines = await _received_head(port, seen)
    assert [line for line in lines if line.lower().startswith("connection:")] == connection_lines
    assert [line for line in lines if line.lower().startswith("upgrade:")] == ["Upgrade: websocket"]


async def test_a_second_connection_header_from_a_snippet_does_not_break_the_handshake(
    tmp_path: Path,
) -> None:
    """Why snippet-header-added is info: the backend still finds `upgrade` among the
    Connection tokens (RFC 7230 list), so the handshake succeeds."""
    annotations = {
        f"{PREFIX}proxy-read-timeout": "3600",
        f"{PREFIX}configuration-snippet": 'proxy_set_header Connection "keep-alive";',
    }
    async with websocket_server("strict") as backend:
        with ingress_nginx(tmp_path, annotations, backend.port) as port:
            result = await probe(
                ProbeConfig(url=f"ws://127.0.0.1:{port}/", allowed_origins=(ALLOWED,)), GUARD
            )
    handshake = result.check("handshake")
    assert handshake is not None and handshake.status is CheckStatus.PASS

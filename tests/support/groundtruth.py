"""The tests' own WebSocket client: what a browser at a given Origin really gets.

Independent of the wsaudit package on purpose (raw asyncio sockets, no imports from it):
the framework battery compares wsaudit's verdicts with what this client measures.

A browser's handshake is imitated as Chromium 156 sends it (measured by
tests/integration/test_browser_headers.py): the same header set (Pragma, Cache-Control, a
Mozilla User-Agent, permessage-deflate offered) and no Sec-Fetch-* metadata, which Chromium
does not send on WebSocket handshakes. The site relation is still computed, to report which
cookies would travel. After the 101, the scenario's exchange is
run, because a handshake that succeeds and is then closed (or answered with a Socket.IO
CONNECT_ERROR) gives an attacker nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import ipaddress
import os
import secrets
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

# accepted: the exchange completed; refused: no 101 (or a 101 no browser keeps);
# closed-after-upgrade: 101, then a close frame, a TCP close or a Socket.IO error packet
# before the exchange completed; no-answer: timeout or transport error.
Outcome = Literal["accepted", "refused", "closed-after-upgrade", "no-answer"]
Exchange = Literal["echo", "socketio"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
HANDSHAKE_TIMEOUT = 5.0
EXCHANGE_TIMEOUT = 2.0
MAX_HEAD = 16 * 1024
MAX_MESSAGE = 1 << 20

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


@dataclass(frozen=True)
class Measured:
    """What one handshake from one Origin got."""

    origin: str | None
    outcome: Outcome
    status: int | None = None
    close_code: int | None = None
    detail: str = ""
    site: str | None = None  # the Sec-Fetch-Site a browser computes (None: no Origin)
    extensions: str | None = None  # the Sec-WebSocket-Extensions the server agreed to

    def describe(self) -> str:
        parts: list[str] = [self.outcome]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.close_code is not None:
            parts.append(f"close {self.close_code}")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)


# --- What a browser sends -------------------------------------------------------------


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def _http_scheme(scheme: str) -> str:
    """The Fetch spec treats ws/wss URLs as http/https."""
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


def _site_of(host: str) -> str:
    """The registrable domain (eTLD+1), or the host itself (IP addresses, bare suffixes)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        domain: str | None = _public_suffixes().privatesuffix(host)
        return domain or host
    return host


def potentially_trustworthy(url: str) -> bool:
    """Secure Contexts spec: https/wss, localhost names and loopback addresses."""
    parts = urlsplit(url)
    if _http_scheme(parts.scheme) == "https":
        return True
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fetch_site(origin: str | None, url: str) -> str | None:
    """Sec-Fetch-Site for a request from `origin` to `url` (schemeful same-site)."""
    if origin is None:
        return None
    if origin == "null":
        return "cross-site"  # an opaque origin is same-site with nothing
    source, target = urlsplit(origin), urlsplit(url)
    source_scheme, target_scheme = source.scheme, _http_scheme(target.scheme)
    source_host, target_host = (source.hostname or "").lower(), (target.hostname or "").lower()
    source_port = source.port or DEFAULT_PORTS.get(source_scheme)
    target_port = target.port or DEFAULT_PORTS.get(target_scheme)
    if (source_scheme, source_host, source_port) == (target_scheme, target_host, target_port):
        return "same-origin"
    if source_scheme == target_scheme and _site_of(source_host) == _site_of(target_host):
        return "same-site"
    return "cross-site"


def browser_request(
    *, host: str, path: str, origin: str | None, key: str, url: str
) -> list[tuple[str, str]]:
    """The request line's headers in Chromium's order. Without an Origin, the client is
    not a browser: the same headers minus Origin."""
    headers = [
        ("Host", host),
        ("Connection", "Upgrade"),
        ("Pragma", "no-cache"),
        ("Cache-Control", "no-cache"),
        ("User-Agent", USER_AGENT),
        ("Upgrade", "websocket"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    headers.append(("Sec-WebSocket-Version", "13"))
    secure_context = potentially_trustworthy(url)
    headers += [
        ("Accept-Encoding", "gzip, deflate, br, zstd" if secure_context else "gzip, deflate"),
        ("Accept-Language", "en-US,en;q=0.9"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
    ]
    return headers


# --- Frames ---------------------------------------------------------------------------


class _Closed(Exception):
    """The server ended the connection (close frame, or TCP close when code is None)."""

    def __init__(self, code: int | None, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _Refused(Exception):
    """The server refused at the application level after the 101 (Socket.IO 44)."""


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.3: clients must mask)."""
    head = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class _Connection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deflate: bool
    ) -> None:
        self.reader = reader
        self.writer = writer
        # One decompressor for the connection works with and without context takeover.
        self.inflater = zlib.decompressobj(-15) if deflate else None

    async def send_text(self, text: str) -> None:
        self.writer.write(encode_frame(OP_TEXT, text.encode()))
        await self.writer.drain()

    async def _frame(self) -> tuple[bool, bool, int, bytes]:
        try:
            first, second = await self.reader.readexactly(2)
        except asyncio.IncompleteReadError:
            raise _Closed(None, "TCP close") from None
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        if length > MAX_MESSAGE:
            raise _Closed(None, f"frame of {length} bytes")
        mask = await self.reader.readexactly(4) if second & 0x80 else b""
        payload = await self.reader.readexactly(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(first & 0x80), bool(first & 0x40), first & 0x0F, payload

    async def message(self) -> str | bytes:
        """The next data message; answers pings; raises _Closed on a close frame or EOF."""
        parts: list[bytes] = []
        opcode, compressed = None, False
        while True:
            fin, rsv1, frame_opcode, payload = await self._frame()
            if frame_opcode == OP_CLOSE:
                # An empty close frame is what browsers report as 1005 (no status received).
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode(errors="replace")
                with contextlib.suppress(ConnectionError):
                    self.writer.write(encode_frame(OP_CLOSE, payload[:2]))
                raise _Closed(code, f"close frame {reason}".strip())
            if frame_opcode == OP_PING:
                self.writer.write(encode_frame(OP_PONG, payload))
                continue
            if frame_opcode == OP_PONG:
                continue
            if frame_opcode != OP_CONTINUATION:
                opcode, compressed = frame_opcode, rsv1
            parts.append(payload)
            if fin:
                break
        data = b"".join(parts)
        if compressed:
            if self.inflater is None:
                raise _Closed(None, "compressed frame without permessage-deflate")
            data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
        return data.decode(errors="replace") if opcode == OP_TEXT else data

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(encode_frame(OP_CLOSE, struct.pack("!H", 1000)))
            await self.writer.drain()
            async with asyncio.timeout(0.5):
                while True:
                    await self._frame()


async def _echo(connection: _Connection) -> None:
    token = f"wsaudit-groundtruth-{secrets.token_hex(4)}"
    await connection.send_text(token)
    while await connection.message() != token:
        pass


async def _socketio(connection: _Connection) -> None:
    async def next_packet() -> str:
        while True:
            message = await connection.message()
            text = message if isinstance(message, str) else message.decode(errors="replace")
            if text == "2":  # engine.io ping
                await connection.send_text("3")
                continue
            return text

    opened = await next_packet()
    if not opened.startswith("0{"):
        raise _Closed(None, f"no engine.io open packet: {opened[:40]!r}")
    await connection.send_text("40")
    answer = await next_packet()
    if answer.startswith("44"):
        raise _Refused(f"CONNECT_ERROR {answer[:80]}")
    if not answer.startswith("40"):
        raise _Closed(None, f"no CONNECT answer: {answer[:40]!r}")
    event = '42["message","gt"]'
    await connection.send_text(event)
    while (packet := await next_packet()) != event:
        if packet.startswith("44") or packet.startswith("41"):
            raise _Refused(f"socket.io packet {packet[:80]}")


EXCHANGES = {"echo": _echo, "socketio": _socketio}


# --- One measurement ------------------------------------------------------------------


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {lines[0][:60]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            headers[name] = (
                f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
            )
    return int(parts[1]), headers


def _invalid_upgrade(headers: dict[str, str], key: str) -> str | None:
    """Why a browser would fail this 101 (RFC 6455 4.1), or None when it is valid."""
    expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    if headers.get("upgrade", "").lower() != "websocket":
        return "101 without Upgrade: websocket"
    if "upgrade" not in {t.strip().lower() for t in headers.get("connection", "").split(",")}:
        return "101 without Connection: Upgrade"
    if headers.get("sec-websocket-accept") != expected:
        return "101 with a wrong Sec-WebSocket-Accept"
    if "sec-websocket-protocol" in headers:
        return "101 with a subprotocol that was not offered"
    extensions = headers.get("sec-websocket-extensions", "")
    if extensions and not extensions.strip().lower().startswith("permessage-deflate"):
        return f"101 with an extension that was not offered: {extensions[:40]}"
    return None


async def measure(
    *,
    port: int,
    host: str,
    path: str,
    origin: str | None,
    exchange: Exchange = "echo",
    address: str = "127.0.0.1",
    scheme: str = "ws",
    handshake_seconds: float = HANDSHAKE_TIMEOUT,
) -> Measured:
    """Connects to address:port, sends a browser's handshake for ws://host/path with
    `origin` (None: no Origin header), and runs the exchange after a 101."""
    url = f"{scheme}://{host}{path}"
    site = fetch_site(origin, url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = f"GET {path} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n"
        for name, value in browser_request(host=host, path=path, origin=origin, key=key, url=url)
    )
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(handshake_seconds):
            reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEAD)
            writer.write(request.encode("latin-1") + b"\r\n")
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        status, headers = _parse_head(head[:-4])
        if status != 101:
            return Measured(origin, "refused", status=status, site=site)
        invalid = _invalid_upgrade(headers, key)
        if invalid is not None:
            # A browser fails such a connection as it fails a refusal: error, close, no open.
            return Measured(origin, "refused", status=101, detail=invalid, site=site)
        extensions = headers.get("sec-websocket-extensions")
        connection = _Connection(reader, writer, deflate=bool(extensions))
        try:
            async with asyncio.timeout(EXCHANGE_TIMEOUT):
                await EXCHANGES[exchange](connection)
        except _Closed as closed:
            return Measured(
                origin,
                "closed-after-upgrade",
                status=101,
                close_code=closed.code,
                detail=closed.detail,
                site=site,
                extensions=extensions,
            )
        except _Refused as refused:
            return Measured(
                origin,
                "closed-after-upgrade",
                status=101,
                detail=str(refused),
                site=site,
                extensions=extensions,
            )
        except TimeoutError:
            return Measured(
                origin,
                "no-answer",
                status=101,
                detail=f"no {exchange} answer within {EXCHANGE_TIMEOUT:g} s",
                site=site,
                extensions=extensions,
            )
        await connection.close()
        return Measured(origin, "accepted", status=101, site=site, extensions=extensions)
    except TimeoutError:
        return Measured(origin, "no-answer", detail="timeout", site=site)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        return Measured(origin, "no-answer", detail=f"{type(exc).__name__}: {exc}", site=site)
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def measure_all(
    origins: Sequence[str | None],
    *,
    port: int,
    host: str,
    path: str,
    exchange: Exchange = "echo",
    concurrency: int = 4,
) -> dict[str | None, Measured]:
    """Measures every distinct Origin, a few at a time."""
    limit = asyncio.Semaphore(concurrency)

    async def one(origin: str | None) -> Measured:
        async with limit:
            return await measure(port=port, host=host, path=path, origin=origin, exchange=exchange)

    distinct = list(dict.fromkeys(origins))
    results = await asyncio.gather(*(one(origin) for origin in distinct))
    return dict(zip(distinct, results, strict=True))

"""One WebSocket opening handshake over a fresh connection to a checked address.

Written on asyncio streams rather than a WebSocket client library because a prober needs
what clients hide: connecting to a pre-checked IP with the real host name for TLS and
Host, sending no Origin at all, never following redirects, reading a refusal's status
and headers, and bounding every read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import hashlib
import os
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .frames import OP_CLOSE, close_frame, read_frame
from .guard import IPAddress
from .target import Target

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_RESPONSE_HEAD = 16 * 1024
MAX_BODY_HINT = 2048
BODY_HINT_WAIT = 0.5
CLOSE_WAIT = 1.0


class Failure(enum.StrEnum):
    """Why a handshake produced no HTTP answer."""

    DNS = "dns-failure"
    TARGET_REFUSED = "target-refused"
    CONNECTION_REFUSED = "connection-refused"
    CONNECTION_RESET = "connection-reset"
    TIMEOUT = "timeout"
    TLS = "tls-failure"
    NOT_HTTP = "not-http"
    HEADERS_TOO_LARGE = "headers-too-large"


@dataclass(frozen=True)
class TlsSession:
    version: str | None
    cipher: str | None
    certificate_der: bytes | None


@dataclass
class HandshakeOutcome:
    origin: str | None
    failure: Failure | None = None
    failure_detail: str = ""
    failure_phase: str = ""
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    # Kept only to classify a refusal (e.g. "missing Upgrade header"); never reported.
    body_hint: bytes = b""
    accept_valid: bool = False
    subprotocol: str | None = None
    tls: TlsSession | None = None
    certificate_error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def upgraded(self) -> bool:
        return self.status == 101 and self.accept_valid

    @property
    def answered(self) -> bool:
        """The server answered with an HTTP status (accepted or refused)."""
        return self.failure is None and self.status is not None


@dataclass(frozen=True)
class Endpoint:
    """Everything constant across the handshakes of one probe."""

    target: Target
    addresses: tuple[IPAddress, ...]
    ssl_context: ssl.SSLContext | None
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()


@dataclass
class OpenSocket:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


def expected_accept(key: str) -> str:
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()  # noqa: S324 (RFC 6455)
    return base64.b64encode(digest).decode("ascii")


def build_request(endpoint: Endpoint, origin: str | None, key: str) -> bytes:
    lines = [
        f"GET {endpoint.target.resource} HTTP/1.1",
        f"Host: {endpoint.target.host_header}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if endpoint.subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(endpoint.subprotocols)}")
    lines.extend(f"{name}: {value}" for name, value in endpoint.headers)
    lines.append("User-Agent: wsaudit-probe")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Attempt:
    """State of one handshake in flight: which phase it is in, and how long each took."""

    def __init__(self, origin: str | None) -> None:
        self.outcome = HandshakeOutcome(origin=origin)
        self.phase = "connect"
        self._phase_started = time.perf_counter()

    def enter(self, phase: str) -> None:
        now = time.perf_counter()
        self.outcome.timings[self.phase] = now - self._phase_started
        self.phase, self._phase_started = phase, now

    def fail(self, failure: Failure, detail: str) -> HandshakeOutcome:
        self.enter("done")
        self.outcome.failure, self.outcome.failure_detail = failure, detail
        self.outcome.failure_phase = next(reversed(self.outcome.timings))
        return self.outcome


async def _connect(
    endpoint: Endpoint, attempt: _Attempt
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    last_error: OSError | None = None
    for address in endpoint.addresses:
        try:
            return await asyncio.open_connection(
                str(address), endpoint.target.port, limit=MAX_RESPONSE_HEAD
            )
        except OSError as exc:
            last_error = exc
    assert last_error is not None  # addresses is never empty: the resolver guarantees it
    raise last_error


def _parse_head(attempt: _Attempt, head: bytes) -> bool:
    text = head.decode("latin-1")
    status_line, *header_lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return False
    outcome = attempt.outcome
    outcome.status = int(parts[1])
    outcome.reason = parts[2] if len(parts) > 2 else ""
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return False
        key = name.lower()
        value = value.strip()
        outcome.headers[key] = (
            f"{outcome.headers[key]}, {value}" if key in outcome.headers else value
        )
    return True


async def _read_body_hint(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    wanted = MAX_BODY_HINT
    length = headers.get("content-length", "")
    if length.isdigit():
        wanted = min(wanted, int(length))
    if not wanted:
        return b""
    with contextlib.suppress(TimeoutError, OSError, asyncio.IncompleteReadError):
        async with asyncio.timeout(BODY_HINT_WAIT):
            return await reader.read(wanted)
    return b""


def _tls_session(writer: asyncio.StreamWriter) -> TlsSession | None:
    ssl_object = writer.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    cipher = ssl_object.cipher()
    return TlsSession(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        certificate_der=ssl_object.getpeercert(binary_form=True),
    )


async def open_handshake(
    endpoint: Endpoint, origin: str | None, deadline: float
) -> tuple[HandshakeOutcome, OpenSocket | None]:
    """Performs the handshake. On 101 the socket stays open for the caller to close."""
    attempt = _Attempt(origin)
    writer: asyncio.StreamWriter | None = None
    keep_open = False
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await _connect(endpoint, attempt)
            if endpoint.ssl_context is not None:
                attempt.enter("tls")
                await writer.start_tls(endpoint.ssl_context, server_hostname=endpoint.target.host)
                attempt.outcome.tls = _tls_session(writer)
            attempt.enter("handshake")
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            writer.write(build_request(endpoint, origin, key))
            await writer.drain()
            if not (await reader.readexactly(5)).startswith(b"HTTP/"):
                return attempt.fail(Failure.NOT_HTTP, "the server did not answer with HTTP"), None
            head = await reader.readuntil(b"\r\n\r\n")
            if not _parse_head(attempt, b"HTTP/" + head[:-4]):
                return attempt.fail(
                    Failure.NOT_HTTP, "the server sent a malformed HTTP response"
                ), None
            outcome = attempt.outcome
            if outcome.status == 101:
                outcome.accept_valid = outcome.headers.get(
                    "sec-websocket-accept"
                ) == expected_accept(key)
                outcome.subprotocol = outcome.headers.get("sec-websocket-protocol")
                attempt.enter("done")
                keep_open = outcome.accept_valid
                return outcome, (OpenSocket(reader, writer) if keep_open else None)
            outcome.body_hint = await _read_body_hint(reader, outcome.headers)
            attempt.enter("done")
            return outcome, None
    except TimeoutError:
        return attempt.fail(Failure.TIMEOUT, f"no answer during {attempt.phase}"), None
    except ssl.SSLCertVerificationError as exc:
        attempt.outcome.certificate_error = exc.verify_message or str(exc)
        return attempt.fail(Failure.TLS, f"certificate rejected: {exc.verify_message or exc}"), None
    except ssl.SSLError as exc:
        return attempt.fail(Failure.TLS, f"TLS handshake failed: {exc.reason or exc}"), None
    except asyncio.LimitOverrunError:
        return attempt.fail(
            Failure.HEADERS_TOO_LARGE,
            f"the response headers exceed {MAX_RESPONSE_HEAD // 1024} KiB",
        ), None
    except asyncio.IncompleteReadError:
        return attempt.fail(
            Failure.CONNECTION_RESET, f"the server closed the connection during {attempt.phase}"
        ), None
    except ConnectionRefusedError:
        return attempt.fail(Failure.CONNECTION_REFUSED, "connection refused"), None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return attempt.fail(
            Failure.CONNECTION_RESET, f"connection reset during {attempt.phase}"
        ), None
    except OSError as exc:
        return attempt.fail(
            Failure.CONNECTION_REFUSED, f"could not connect: {exc.strerror or exc}"
        ), None
    finally:
        if writer is not None and not keep_open:
            await _abort(writer)


async def _abort(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_WAIT):
            await writer.wait_closed()


async def close_socket(socket: OpenSocket) -> None:
    """Closes cleanly: a close frame, a short wait for the server's, then the connection."""
    with contextlib.suppress(Exception):
        socket.writer.write(close_frame())
        await socket.writer.drain()
        async with asyncio.timeout(CLOSE_WAIT):
            while (await read_frame(socket.reader)).opcode != OP_CLOSE:
                pass
    await _abort(socket.writer)


@contextlib.asynccontextmanager
async def opened(
    endpoint: Endpoint, origin: str | None, deadline: float
) -> AsyncIterator[tuple[HandshakeOutcome, OpenSocket | None]]:
    outcome, socket = await open_handshake(endpoint, origin, deadline)
    try:
        yield outcome, socket
    finally:
        if socket is not None:
            await close_socket(socket)


async def handshake(endpoint: Endpoint, origin: str | None, deadline: float) -> HandshakeOutcome:
    """Performs the handshake and closes the connection cleanly right after it."""
    async with opened(endpoint, origin, deadline) as (outcome, _socket):
        return outcome

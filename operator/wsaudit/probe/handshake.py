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
import re
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus

from .after_upgrade import HOLD_SECONDS, MAX_WATCH_BYTES, AfterUpgrade, watch
from .browser import PERMESSAGE_DEFLATE, USER_AGENT, handshake_headers
from .frames import OP_CLOSE, Pacer, close_frame, read_frame
from .guard import IPAddress
from .target import Target

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_RESPONSE_HEAD = 16 * 1024
MAX_BODY_HINT = 2048
BODY_HINT_WAIT = 0.5
CLOSE_WAIT = 1.0
# The server's close frame comes after what it had in flight. The verdict is made before
# the close, so a server still streaming after this many frames is cut off rather than
# read: under a flood, these reads were a third of the prober's work.
CLOSE_MAX_FRAMES = 16
# An untrusted-Origin case sent over a kept-alive connection waits this long for its answer,
# then goes over a new connection as it would have without reuse (a server may drop idle
# connections silently).
REUSED_ANSWER_SECONDS = 2.0
# ASCII digits only: int() also accepts "²01" or a thousand digits.
_STATUS_LINE = re.compile(r"HTTP/1\.[0-9] ([0-9]{3})(?: (.*))?")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")


class Outcome(enum.StrEnum):
    """What one handshake amounts to, as a browser page would experience it."""

    ACCEPTED = "accepted"  # 101, and the connection stayed open
    REFUSED = "refused"  # no WebSocket: an HTTP refusal, or a 101 no browser accepts
    CLOSED_AFTER_UPGRADE = "closed-after-upgrade"  # 101, then closed or refused at once
    NO_ANSWER = "no-answer"  # no HTTP answer at all


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
    # The verified chain, leaf first (empty when verification is off).
    chain_der: tuple[bytes, ...] = ()


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
    # Why a 101 is not a WebSocket a browser would keep (RFC 6455 4.1), if it is not.
    invalid_upgrade: str | None = None
    subprotocol: str | None = None
    after_upgrade: AfterUpgrade | None = None
    tls: TlsSession | None = None
    certificate_error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # The checked address the connection reached (a name may resolve to several).
    address: IPAddress | None = None

    @property
    def upgraded(self) -> bool:
        """A valid 101: the browser fires `open` (what happens next is `outcome`)."""
        return self.status == 101 and self.invalid_upgrade is None

    @property
    def outcome(self) -> Outcome:
        if not self.answered:
            return Outcome.NO_ANSWER
        if not self.upgraded:
            return Outcome.REFUSED
        if self.after_upgrade is not None and not self.after_upgrade.kept_open:
            return Outcome.CLOSED_AFTER_UPGRADE
        return Outcome.ACCEPTED

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED

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
    port: int | None = None  # where to connect, when not the URL's port (connect-to)

    @property
    def connect_port(self) -> int:
        return self.port or self.target.port


@dataclass
class OpenSocket:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


@dataclass
class KeptAlive:
    """A connection whose last answer was a refusal read to its end and which the server
    keeps open (HTTP/1.1, a body framed by Content-Length or chunked, no `Connection:
    close`): the next untrusted-Origin case can go over it without a new TCP (and TLS)
    handshake."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    address: IPAddress
    tls: TlsSession | None


def expected_accept(key: str) -> str:
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()  # noqa: S324 (RFC 6455)
    return base64.b64encode(digest).decode("ascii")


def build_request(
    endpoint: Endpoint, origin: str | None, key: str, resource: str | None = None
) -> bytes:
    """The handshake a browser page at `origin` sends (no Origin: a non-browser client).
    Headers the endpoint sets itself (a User-Agent a WAF wants) replace the browser's."""
    own = {name.lower() for name, _value in endpoint.headers}
    lines = [
        f"GET {resource or endpoint.target.resource} HTTP/1.1",
        f"Host: {endpoint.target.host_header}",
        *(
            f"{name}: {value}"
            for name, value in handshake_headers(origin, endpoint.target)
            if name.lower() not in own
        ),
        f"Sec-WebSocket-Key: {key}",
        f"Sec-WebSocket-Extensions: {PERMESSAGE_DEFLATE}",
    ]
    if endpoint.subprotocols:
        lines.append(f"Sec-WebSocket-Protocol: {', '.join(endpoint.subprotocols)}")
    lines.extend(f"{name}: {value}" for name, value in endpoint.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def build_plain_request(endpoint: Endpoint, origin: str | None) -> bytes:
    """The same URL without Upgrade: a control that shows what the server (or a proxy
    that dropped the upgrade) answers to a plain request."""
    own = {name.lower() for name, _value in endpoint.headers}
    lines = [
        f"GET {endpoint.target.resource} HTTP/1.1",
        f"Host: {endpoint.target.host_header}",
        *([] if "user-agent" in own else [f"User-Agent: {USER_AGENT}"]),
        "Accept: */*",
        "Connection: close",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    lines.extend(f"{name}: {value}" for name, value in endpoint.headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _header_tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def invalid_upgrade(headers: dict[str, str], key: str) -> str | None:
    """Why a browser fails this 101 (RFC 6455 4.1, items 2-6), or None when it is valid."""
    if headers.get("upgrade", "").strip().lower() != "websocket":
        shown = headers.get("upgrade", "")[:40] or "missing"
        return f"the 101 has no 'Upgrade: websocket' (Upgrade: {shown!r})"
    if "upgrade" not in _header_tokens(headers.get("connection", "")):
        return "the 101 has no 'Connection: Upgrade'"
    if headers.get("sec-websocket-accept") != expected_accept(key):
        return "the 101 has a wrong Sec-WebSocket-Accept"
    extensions = {
        item.split(";", 1)[0].strip().lower()
        for item in headers.get("sec-websocket-extensions", "").split(",")
        if item.strip()
    }
    if extensions - {"permessage-deflate"}:
        return "the 101 selects a WebSocket extension that was not offered"
    return None


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
    endpoint: Endpoint,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, IPAddress]:
    last_error: OSError | None = None
    for address in endpoint.addresses:
        try:
            reader, writer = await asyncio.open_connection(
                str(address), endpoint.connect_port, limit=MAX_RESPONSE_HEAD
            )
            return reader, writer, address
        except OSError as exc:
            last_error = exc
    assert last_error is not None  # addresses is never empty: the resolver guarantees it
    raise last_error


def _parse_head(attempt: _Attempt, head: bytes) -> bool:
    text = head.decode("latin-1")
    status_line, *header_lines = text.split("\r\n")
    matched = _STATUS_LINE.fullmatch(status_line)
    if matched is None:
        return False
    outcome = attempt.outcome
    outcome.status = int(matched.group(1))
    outcome.reason = matched.group(2) or ""
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
    length = headers.get("content-length", "").strip()
    if _CONTENT_LENGTH.fullmatch(length):
        wanted = min(wanted, int(length))
    if not wanted:
        return b""
    with contextlib.suppress(TimeoutError, OSError, asyncio.IncompleteReadError):
        async with asyncio.timeout(BODY_HINT_WAIT):
            hint = await reader.read(wanted)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                return _first_chunk(hint)
            return hint
    return b""


async def _read_whole_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """A refusal's body read to its very end, so that the connection can carry the next
    request, as long as it is framed (Content-Length, or chunked) and at most MAX_BODY_HINT
    bytes: its hint (what _read_body_hint keeps of the same bytes), or None when it cannot
    be read so (the connection is then closed, not reused)."""
    length = headers.get("content-length", "").strip()
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    with contextlib.suppress(TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
        async with asyncio.timeout(BODY_HINT_WAIT):
            if chunked:
                return await _read_chunks(reader)
            if _CONTENT_LENGTH.fullmatch(length) and int(length) <= MAX_BODY_HINT:
                return await reader.readexactly(int(length))
    return None


async def _read_chunks(reader: asyncio.StreamReader) -> bytes | None:
    """A chunked body up to its last chunk (no trailers): the data of its first chunk, as
    _first_chunk keeps it; None past MAX_BODY_HINT bytes."""
    chunks: list[bytes] = []
    while sum(len(chunk) for chunk in chunks) <= MAX_BODY_HINT:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if chunk[size:] != b"\r\n":
            return None
        if size == 0:
            return chunks[0] if chunks else b""
        chunks.append(chunk[:size])
    return None


def _keeps_alive(head: bytes, headers: dict[str, str]) -> bool:
    return head.startswith(b"1.1 ") and "close" not in _header_tokens(headers.get("connection", ""))


async def _read_refusal(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter, IPAddress],
    head: bytes,
    outcome: HandshakeOutcome,
    *,
    keep_alive: bool,
) -> KeptAlive | None:
    """Reads a refusal's body hint; with `keep_alive`, the connection when it can carry
    the next request."""
    reader, writer, address = connection
    whole = (
        await _read_whole_body(reader, outcome.headers)
        if keep_alive and _keeps_alive(head, outcome.headers)
        else None
    )
    if whole is None:
        outcome.body_hint = await _read_body_hint(reader, outcome.headers)
        return None
    outcome.body_hint = whole
    return KeptAlive(reader, writer, address, outcome.tls)


def _first_chunk(data: bytes) -> bytes:
    """The data of the first chunk of a chunked body (proxies re-chunk bodies they relay),
    or what of it was read."""
    size, sep, rest = data.partition(b"\r\n")
    try:
        length = int(size.split(b";", 1)[0].strip() or b"x", 16)
    except ValueError:
        return b""
    return rest[:length] if sep else b""


def _tls_session(writer: asyncio.StreamWriter) -> TlsSession | None:
    ssl_object = writer.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    cipher = ssl_object.cipher()
    return TlsSession(
        version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
        certificate_der=ssl_object.getpeercert(binary_form=True),
        chain_der=_verified_chain(ssl_object),
    )


def _verified_chain(ssl_object: ssl.SSLObject) -> tuple[bytes, ...]:
    """The chain OpenSSL verified, leaf first: public from Python 3.13, private before."""
    if ssl_object.context.verify_mode == ssl.CERT_NONE:
        return ()
    getter = getattr(ssl_object, "get_verified_chain", None) or getattr(
        getattr(ssl_object, "_sslobj", None), "get_verified_chain", None
    )
    if getter is None:
        return ()
    chain = []
    for certificate in getter() or ():
        der = (
            certificate
            if isinstance(certificate, bytes)
            else certificate.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
        )
        chain.append(der)
    return tuple(chain)


async def _read_head(reader: asyncio.StreamReader, attempt: _Attempt) -> bytes | None:
    """The response's head after "HTTP/", parsed into the outcome; None when the answer is
    not HTTP (the attempt has failed)."""
    if not (await reader.readexactly(5)).startswith(b"HTTP/"):
        attempt.fail(Failure.NOT_HTTP, "the server did not answer with HTTP")
        return None
    head = await reader.readuntil(b"\r\n\r\n")
    if not _parse_head(attempt, b"HTTP/" + head[:-4]):
        attempt.fail(Failure.NOT_HTTP, "the server sent a malformed HTTP response")
        return None
    return head


async def _start_tls(endpoint: Endpoint, attempt: _Attempt, writer: asyncio.StreamWriter) -> None:
    if endpoint.ssl_context is not None:
        attempt.enter("tls")
        await writer.start_tls(endpoint.ssl_context, server_hostname=endpoint.target.host)
        attempt.outcome.tls = _tls_session(writer)


async def open_handshake(
    endpoint: Endpoint,
    origin: str | None,
    deadline: float,
    *,
    resource: str | None = None,
    upgrade: bool = True,
    watch_seconds: float = HOLD_SECONDS,
    reuse: KeptAlive | None = None,
    keep_alive: bool = False,
) -> tuple[HandshakeOutcome, OpenSocket | None, KeptAlive | None]:
    """Performs the handshake and watches the accepted socket for `watch_seconds` (within
    the deadline). On a valid 101 the socket stays open for the caller to close.

    `upgrade=False` sends the same request without Upgrade (a control request). Over
    `reuse` when given, else over a new connection; with `keep_alive`, a refusal that
    leaves the connection reusable returns it as KeptAlive (open, for the caller to reuse
    or close) instead of closing it."""
    attempt = _Attempt(origin)
    writer: asyncio.StreamWriter | None = None
    keep_open = False
    kept: KeptAlive | None = None
    try:
        async with asyncio.timeout_at(deadline):
            if reuse is None:
                reader, writer, address = await _connect(endpoint)
                attempt.outcome.address = address
                await _start_tls(endpoint, attempt, writer)
            else:
                reader, writer, address = reuse.reader, reuse.writer, reuse.address
                attempt.outcome.address, attempt.outcome.tls = address, reuse.tls
            attempt.enter("handshake")
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            request = (
                build_request(endpoint, origin, key, resource)
                if upgrade
                else build_plain_request(endpoint, origin)
            )
            writer.write(request)
            await writer.drain()
            # Over a reused connection the answer gets a shorter wait: a new connection
            # gets the rest of the deadline when it does not come.
            answer_wait = (
                contextlib.nullcontext()
                if reuse is None
                else asyncio.timeout(min(REUSED_ANSWER_SECONDS, deadline - _now()))
            )
            async with answer_wait:
                head = await _read_head(reader, attempt)
            outcome = attempt.outcome
            if head is None:
                return outcome, None, None
            if outcome.status == 101 and upgrade:
                outcome.invalid_upgrade = invalid_upgrade(outcome.headers, key)
                outcome.subprotocol = outcome.headers.get("sec-websocket-protocol")
                attempt.enter("done")
                if outcome.invalid_upgrade is not None:
                    return outcome, None, None
                if watch_seconds > 0:
                    remaining = deadline - _now()
                    outcome.after_upgrade = await watch(
                        reader, writer, max(0.0, min(watch_seconds, remaining - 0.05))
                    )
                keep_open = outcome.accepted
                return outcome, (OpenSocket(reader, writer) if keep_open else None), None
            kept = await _read_refusal(
                (reader, writer, address), head, outcome, keep_alive=keep_alive
            )
            attempt.enter("done")
            return outcome, None, kept
    except TimeoutError:
        if attempt.phase == "done":  # the watch above is bounded by the deadline too
            return attempt.outcome, None, None
        return attempt.fail(Failure.TIMEOUT, f"no answer during {attempt.phase}"), None, None
    except ssl.SSLCertVerificationError as exc:
        attempt.outcome.certificate_error = exc.verify_message or str(exc)
        return (
            attempt.fail(Failure.TLS, f"certificate rejected: {exc.verify_message or exc}"),
            None,
            None,
        )
    except ssl.SSLError as exc:
        return attempt.fail(Failure.TLS, f"TLS handshake failed: {exc.reason or exc}"), None, None
    except asyncio.LimitOverrunError:
        return (
            attempt.fail(
                Failure.HEADERS_TOO_LARGE,
                f"the response headers exceed {MAX_RESPONSE_HEAD // 1024} KiB",
            ),
            None,
            None,
        )
    except asyncio.IncompleteReadError:
        return (
            attempt.fail(
                Failure.CONNECTION_RESET, f"the server closed the connection during {attempt.phase}"
            ),
            None,
            None,
        )
    except ConnectionRefusedError:
        return attempt.fail(Failure.CONNECTION_REFUSED, "connection refused"), None, None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return (
            attempt.fail(Failure.CONNECTION_RESET, f"connection reset during {attempt.phase}"),
            None,
            None,
        )
    except OSError as exc:
        return (
            attempt.fail(Failure.CONNECTION_REFUSED, f"could not connect: {exc.strerror or exc}"),
            None,
            None,
        )
    finally:
        if writer is not None and not keep_open and kept is None:
            await _abort(writer, deadline)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _close_wait(deadline: float | None) -> float:
    """How long closing may wait: CLOSE_WAIT, and never past the probe's deadline."""
    if deadline is None:
        return CLOSE_WAIT
    return max(0.0, min(CLOSE_WAIT, deadline - asyncio.get_running_loop().time()))


async def _abort(writer: asyncio.StreamWriter, deadline: float | None = None) -> None:
    """Closes the connection and waits for it to close, at most CLOSE_WAIT and never past
    the deadline; then aborts it, which releases the socket at once. A TLS session closes
    only when the server answers close_notify (asyncio gives it 30 s), and after a start_tls
    cut by the deadline the stream never learns that its socket closed: waiting on either
    would hold the probe past its deadline (a deaf TLS server cost a second per probe)."""
    writer.close()
    try:
        async with asyncio.timeout(_close_wait(deadline)):
            await writer.wait_closed()
    except Exception:
        writer.transport.abort()


async def close_socket(socket: OpenSocket, deadline: float | None = None) -> None:
    """Closes cleanly: a close frame, a short wait for the server's (within the probe's
    deadline), then the connection. What arrives meanwhile is skipped, as far as the watch
    would read it (a server that floods, or leaves the stream mid-message, is cut off)."""
    pacer = Pacer()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_close_wait(deadline)):
            socket.writer.write(close_frame())
            await socket.writer.drain()
            for _ in range(CLOSE_MAX_FRAMES):
                await pacer.tick()
                if (await read_frame(socket.reader, MAX_WATCH_BYTES)).opcode == OP_CLOSE:
                    break
    await _abort(socket.writer, deadline)


@contextlib.asynccontextmanager
async def opened(
    endpoint: Endpoint, origin: str | None, deadline: float, *, watch_seconds: float = 0.0
) -> AsyncIterator[tuple[HandshakeOutcome, OpenSocket | None]]:
    outcome, socket, _kept = await open_handshake(
        endpoint, origin, deadline, watch_seconds=watch_seconds
    )
    try:
        yield outcome, socket
    finally:
        if socket is not None:
            await close_socket(socket)


async def handshake(
    endpoint: Endpoint,
    origin: str | None,
    deadline: float,
    *,
    resource: str | None = None,
    upgrade: bool = True,
) -> HandshakeOutcome:
    """Performs the handshake, watches the accepted socket briefly, and closes it cleanly."""
    outcome, socket, _kept = await open_handshake(
        endpoint, origin, deadline, resource=resource, upgrade=upgrade
    )
    if socket is not None:
        await close_socket(socket, deadline)
    return outcome


@dataclass(frozen=True)
class CaseAnswer:
    outcome: HandshakeOutcome
    reused: bool  # the outcome came over the kept-alive connection it was given
    kept: KeptAlive | None  # the connection, when it can carry the next case


async def case_handshake(
    endpoint: Endpoint, origin: str | None, deadline: float, reuse: KeptAlive | None
) -> CaseAnswer:
    """An untrusted-Origin handshake, as handshake() performs it, over `reuse` when given:
    when the server closed that connection or did not answer over it, the case goes over a
    new connection, so that only a whole HTTP answer is ever taken from a reused one. The
    connection comes back when it can carry the next case (a refusal the server keeps the
    connection open after); a 101 ends its reuse (it is a WebSocket now)."""
    if reuse is not None:
        outcome, socket, kept = await open_handshake(
            endpoint, origin, deadline, reuse=reuse, keep_alive=True
        )
        # A 408 answers no request of ours: the server timed the idle connection out.
        if outcome.failure is None and outcome.status != HTTPStatus.REQUEST_TIMEOUT:
            if socket is not None:
                await close_socket(socket, deadline)
            return CaseAnswer(outcome, reused=True, kept=kept)
        await close_kept([kept] if kept is not None else [], deadline)
    outcome, socket, kept = await open_handshake(endpoint, origin, deadline, keep_alive=True)
    if socket is not None:
        await close_socket(socket, deadline)
    return CaseAnswer(outcome, reused=False, kept=kept)


async def upgrades_over(
    connection: KeptAlive, endpoint: Endpoint, origin: str, deadline: float
) -> bool:
    """Whether `origin` (an allowed one) gets a valid 101 over a kept-alive connection; the
    connection is closed afterwards either way."""
    outcome, socket, _kept = await open_handshake(
        endpoint, origin, deadline, reuse=connection, watch_seconds=0.0
    )
    if socket is not None:
        await close_socket(socket, deadline)
    return outcome.upgraded


async def close_kept(connections: list[KeptAlive], deadline: float) -> None:
    """Closes connections kept alive for cases that no longer need them."""
    await asyncio.gather(*(_abort(connection.writer, deadline) for connection in connections))

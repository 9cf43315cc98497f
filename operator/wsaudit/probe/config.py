"""Validation of a ProbeConfig before any I/O: bad input is refused with the field and reason."""

from __future__ import annotations

import os
import re
import ssl
import stat
from dataclasses import dataclass

from .models import ProbeConfig
from .origins import Origin, OriginError, parse_origin
from .target import Target, TargetError, parse_connect_to, parse_target
from .tls import TlsConfigError, client_context

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Headers that define the probe itself; letting a resource set them would falsify it
# (Origin, Sec-WebSocket-*) or smuggle requests (Host, framing headers). Cookies are refused
# so that no session of a real user is ever stored in a resource.
FORBIDDEN_HEADERS = frozenset(
    {"host", "origin", "cookie", "upgrade", "connection", "content-length", "transfer-encoding"}
)
MAX_TIMEOUT = 300.0
MAX_IDLE = 3600.0
# A token or a CA bundle is small; a larger file is a mistake (or /dev/zero).
MAX_INPUT_FILE = 1024 * 1024


class ProbeConfigError(ValueError):
    """The probe configuration is invalid; `field` names what to fix."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PreparedProbe:
    config: ProbeConfig
    target: Target
    allowed: tuple[Origin, ...]
    rejected: tuple[Origin, ...]
    headers: tuple[tuple[str, str], ...]
    ssl_context: ssl.SSLContext | None
    # Where to connect: the URL's host and port, or the connect-to address.
    connect_host: str
    connect_port: int


def read_input_file(path: str, field: str) -> bytes:
    """A small regular file's bytes. A FIFO, a device, a directory or a file over 1 MiB is
    refused before reading, so that input can neither hang the probe nor fill memory."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ProbeConfigError(field, f"cannot read {path}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise ProbeConfigError(field, f"{path} is not a regular file")
    if info.st_size > MAX_INPUT_FILE:
        os.close(fd)
        raise ProbeConfigError(field, f"{path} is larger than {MAX_INPUT_FILE // 1024} KiB")
    with os.fdopen(fd, "rb") as handle:
        return handle.read(MAX_INPUT_FILE)


def read_token_file(path: str, field: str) -> str:
    """A bearer token from a file: UTF-8 text, surrounding whitespace dropped."""
    try:
        return read_input_file(path, field).decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ProbeConfigError(field, f"{path} is not UTF-8 text") from None


def visible_ascii(value: str) -> bool:
    """What a header value may hold (RFC 9110 field-value without obs-text): visible ASCII,
    spaces and tabs. Anything else either breaks the request or is not what a browser sends."""
    return all(ch == "\t" or 0x20 <= ord(ch) < 0x7F for ch in value)


def validate_header(name: str, value: str) -> tuple[str, str]:
    if not _TOKEN.match(name):
        raise ProbeConfigError("headers", f"{name!r} is not a valid header name")
    if not visible_ascii(value):
        raise ProbeConfigError(
            "headers",
            f"the value of {name} has characters other than visible ASCII, space and tab "
            "(CR, LF, NUL, control characters or non-ASCII)",
        )
    lowered = name.lower()
    if lowered in FORBIDDEN_HEADERS or lowered.startswith(("sec-websocket-", "sec-fetch-")):
        raise ProbeConfigError(
            "headers", f"{name} is set by the prober itself and cannot be overridden"
        )
    return name, value.strip()


def _origins(field: str, values: tuple[str, ...]) -> tuple[Origin, ...]:
    try:
        return tuple(parse_origin(value) for value in values)
    except OriginError as exc:
        raise ProbeConfigError(field, str(exc)) from None


def prepare(config: ProbeConfig) -> PreparedProbe:
    try:
        target = parse_target(config.url)
    except TargetError as exc:
        raise ProbeConfigError("url", str(exc)) from None
    if not 0 < config.timeout <= MAX_TIMEOUT:
        raise ProbeConfigError("timeout", f"must be above 0 and at most {MAX_TIMEOUT:g} s")
    if config.idle_seconds is not None and not 0 < config.idle_seconds <= MAX_IDLE:
        raise ProbeConfigError("idle", f"must be above 0 and at most {MAX_IDLE:g} s")
    if config.min_certificate_days < 0:
        raise ProbeConfigError("minCertificateDays", "must not be negative")
    allowed = _origins("origins.allowed", config.allowed_origins) or (
        parse_origin(target.own_origin),
    )
    rejected = _origins("origins.rejected", config.rejected_origins)
    headers = [validate_header(name, value) for name, value in config.headers]
    if config.bearer_token is not None:
        token = config.bearer_token.strip()
        if not token or not visible_ascii(token) or any(ch in token for ch in " \t"):
            raise ProbeConfigError(
                "auth.token",
                "the token is empty, contains whitespace, or has characters other than "
                "visible ASCII",
            )
        if any(name.lower() == "authorization" for name, _ in headers):
            raise ProbeConfigError("headers", "Authorization is set both as a header and a token")
        if (not target.secure or config.insecure_skip_verify) and not config.insecure_credentials:
            raise ProbeConfigError(
                "auth",
                "the token would go out over "
                + ("ws://" if not target.secure else "TLS whose certificate is not verified")
                + ", readable by anyone on the path: use wss:// with a verified certificate, "
                "or allow it explicitly (auth.allowInsecureTransport, "
                "--allow-insecure-credentials)",
            )
        headers.append(("Authorization", f"Bearer {token}"))
    for protocol in config.subprotocols:
        if not _TOKEN.match(protocol):
            raise ProbeConfigError("subprotocols", f"{protocol!r} is not a valid subprotocol token")
    context = None
    if target.secure:
        try:
            ca_data: str | bytes | None = config.ca_data
            if config.ca_file is not None:
                ca_data = read_input_file(config.ca_file, "--ca-file")
                if ca_data.isascii():
                    ca_data = ca_data.decode("ascii")  # PEM; bytes are taken as DER
            context = client_context(ca_data=ca_data, insecure=config.insecure_skip_verify)
        except TlsConfigError as exc:
            raise ProbeConfigError("tls.ca", str(exc)) from None
    connect_host, connect_port = target.host, target.port
    if config.connect_to is not None:
        try:
            connect_host, connect_port = parse_connect_to(config.connect_to, target.port)
        except TargetError as exc:
            raise ProbeConfigError("connectTo", str(exc)) from None
    return PreparedProbe(
        config, target, allowed, rejected, tuple(headers), context, connect_host, connect_port
    )

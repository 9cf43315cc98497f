"""Validation of a ProbeConfig before any I/O: bad input is refused with the field and reason."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from .models import ProbeConfig
from .origins import Origin, OriginError, parse_origin
from .target import Target, TargetError, parse_target
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


def validate_header(name: str, value: str) -> tuple[str, str]:
    if not _TOKEN.match(name):
        raise ProbeConfigError("headers", f"{name!r} is not a valid header name")
    if any(ch in value for ch in "\r\n\0"):
        raise ProbeConfigError("headers", f"the value of {name} contains CR, LF or NUL")
    lowered = name.lower()
    if lowered in FORBIDDEN_HEADERS or lowered.startswith("sec-websocket-"):
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
        if not token or any(ch in token for ch in "\r\n\0 "):
            raise ProbeConfigError("auth.token", "the token is empty or contains whitespace")
        if any(name.lower() == "authorization" for name, _ in headers):
            raise ProbeConfigError("headers", "Authorization is set both as a header and a token")
        headers.append(("Authorization", f"Bearer {token}"))
    for protocol in config.subprotocols:
        if not _TOKEN.match(protocol):
            raise ProbeConfigError("subprotocols", f"{protocol!r} is not a valid subprotocol token")
    context = None
    if target.secure:
        try:
            context = client_context(
                ca_file=config.ca_file,
                ca_data=config.ca_data,
                insecure=config.insecure_skip_verify,
            )
        except TlsConfigError as exc:
            raise ProbeConfigError("tls.ca", str(exc)) from None
    return PreparedProbe(config, target, allowed, rejected, tuple(headers), context)

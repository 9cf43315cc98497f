"""Parsing and validation of a WebSocket URL into the parts a probe connects to."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"ws": 80, "wss": 443}
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$"
)


class TargetError(ValueError):
    """The URL cannot be probed; the message says why and what a valid one looks like."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    resource: str

    @property
    def secure(self) -> bool:
        return self.scheme == "wss"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def own_origin(self) -> str:
        """The origin of a page served from the endpoint's own host (wss -> https)."""
        scheme = "https" if self.secure else "http"
        return f"{scheme}://{self.host_header}"


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def parse_target(url: str) -> Target:
    if not isinstance(url, str) or not url.strip():
        raise TargetError("the URL is empty: give a ws:// or wss:// URL")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise TargetError("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(
            f"the URL is malformed ({exc}): expected wss://host[:port]/path"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        hint = " (use wss:// for https, ws:// for http)" if scheme in ("http", "https") else ""
        raise TargetError(f"unsupported scheme {scheme or '(none)'!r}: only ws:// and wss://{hint}")
    if parts.username is not None or parts.password is not None:
        raise TargetError(
            "credentials in the URL are not supported: send a token with a header or a token Secret"
        )
    if parts.fragment or url.endswith("#"):
        raise TargetError("a WebSocket URL must not have a #fragment (RFC 6455 section 3)")
    host = parts.hostname or ""
    if not host:
        raise TargetError("the URL has no host: expected wss://host[:port]/path")
    host = _normalise_host(host)
    if port == 0:
        raise TargetError("port 0 is not a valid port")
    resource = parts.path or "/"
    if parts.query:
        resource = f"{resource}?{parts.query}"
    return Target(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme], resource=resource)


def _normalise_host(host: str) -> str:
    ip = _ip_literal(host.split("%", 1)[0])
    if ip is not None:
        return str(ip)
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise TargetError(f"the host {host!r} is not a valid hostname") from None
    if not _HOSTNAME.match(ascii_host):
        raise TargetError(f"the host {host!r} is not a valid hostname")
    return ascii_host.rstrip(".")

"""Parsing and validation of a WebSocket URL into the parts a probe connects to.

Non-ASCII characters in the path and query are percent-encoded as UTF-8, as browsers do
(WHATWG URL standard, path and special-query percent-encode sets), so that what is probed
is what `new WebSocket(url)` would request.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"ws": 80, "wss": 443}
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$"
)


# The WHATWG path and special-query percent-encode sets, beyond C0 controls, space and
# non-ASCII (https://url.spec.whatwg.org/#path-percent-encode-set).
_PATH_ENCODED = frozenset('"#<>?`{}')
_QUERY_ENCODED = frozenset("\"#<>'")


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


def _percent_encode(text: str, encoded: frozenset[str]) -> str:
    return "".join(
        "".join(f"%{byte:02X}" for byte in ch.encode("utf-8"))
        if ord(ch) > 0x7E or ch in encoded
        else ch
        for ch in text
    )


def _is_control(ch: str) -> bool:
    """C0 and C1 controls, space, DEL and Unicode separators: never valid in a URL as typed."""
    code = ord(ch)
    return code < 0x21 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029\ufeff"


def parse_target(url: str) -> Target:
    if not isinstance(url, str) or not url.strip():
        raise TargetError("the URL is empty: give a ws:// or wss:// URL")
    if any(_is_control(ch) for ch in url):
        raise TargetError("the URL contains spaces or control characters")
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:
        raise TargetError("the URL contains characters that are not valid Unicode") from None
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
    host = normalise_host(host)
    if port == 0:
        raise TargetError("port 0 is not a valid port")
    # Browsers read a backslash in a special URL's path as a slash.
    resource = _percent_encode(parts.path.replace("\\", "/"), _PATH_ENCODED) or "/"
    if parts.query:
        resource = f"{resource}?{_percent_encode(parts.query, _QUERY_ENCODED)}"
    return Target(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme], resource=resource)


def normalise_host(host: str) -> str:
    """An IP literal in canonical form, or the host name as ASCII (IDNA), lower case."""
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


def parse_connect_to(value: str, default_port: int) -> tuple[str, int]:
    """`ADDR[:PORT]` (IPv6 in brackets): where to connect instead of the URL's host, which
    keeps its name in Host, SNI and the origin checks (curl's --connect-to idea)."""
    text = value.strip()
    try:
        parts = urlsplit(f"//{text}")
        port = parts.port
    except ValueError:
        port = -1
    host = parts.hostname if port != -1 else None
    if not host or parts.path or parts.query or parts.username or any(_is_control(c) for c in text):
        raise TargetError(f"{value!r} is not ADDR[:PORT] (e.g. 10.0.0.5:8443 or [fd00::5]:443)")
    if port == 0:
        raise TargetError("port 0 is not a valid port")
    return normalise_host(host), port or default_port

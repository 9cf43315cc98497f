"""What a browser at a given Origin sends with a WebSocket handshake: pure functions.

A verdict is only as true as the request it is based on. Servers decide on more than the
Origin header (WAFs read the User-Agent, stacks negotiate compression, Tornado 6.6 reads
Fetch Metadata when present), so each handshake carries exactly what Chromium sends from a
page at that Origin, as measured against Debian's Chromium 156 by
tests/integration/test_browser_headers.py. Chromium sends no Fetch Metadata
(`Sec-Fetch-*`) on WebSocket handshakes, to wss:// targets included: a server that relies
on `Sec-Fetch-Site` gets none from a Chromium page and falls back to whatever else it
checks (Tornado 6.6.1 web.py ~1733: to comparing the Origin's host with Host, scheme
ignored), and that fallback is what an attack gets. A handshake without Origin is what a
non-browser client sends.

The site relation (same-origin, same-site, cross-site) is still computed: it decides which
cookies a browser attaches (SameSite), so it grades each accepted Origin.
"""

from __future__ import annotations

import ipaddress

from .origins import Origin, OriginError, parse_origin, registrable_domain
from .target import Target

SAME_ORIGIN, SAME_SITE, CROSS_SITE = "same-origin", "same-site", "cross-site"

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 wsaudit-probe"
)
PERMESSAGE_DEFLATE = "permessage-deflate; client_max_window_bits"


def _site(host: str) -> str:
    """The registrable domain, or the host itself for IP addresses and bare names."""
    return registrable_domain(host) or host


def target_origin(target: Target) -> Origin:
    """The origin of the WebSocket URL as Fetch sees it: ws -> http, wss -> https."""
    return parse_origin(target.own_origin)


def site_relation(origin: str | None, target: Target) -> str | None:
    """Sec-Fetch-Site for a page at `origin` opening `target` (None: no browser page).

    Schemeful same-site, as browsers compute it: the same scheme and registrable domain.
    The opaque origin `null` is cross-site to everything.
    """
    if origin is None:
        return None
    if origin == "null":
        return CROSS_SITE
    try:
        page = parse_origin(origin)
    except OriginError:
        return CROSS_SITE  # a forged host no real site has (the special-character variants)
    endpoint = target_origin(target)
    if str(page) == str(endpoint):
        return SAME_ORIGIN
    if page.scheme == endpoint.scheme and _site(page.host) == _site(endpoint.host):
        return SAME_SITE
    return CROSS_SITE


def potentially_trustworthy(target: Target) -> bool:
    """A secure context's target: TLS, or loopback."""
    if target.secure or target.host == "localhost" or target.host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(target.host).is_loopback
    except ValueError:
        return False


def handshake_headers(origin: str | None, target: Target) -> list[tuple[str, str]]:
    """The headers after Host, in Chromium's order, without Sec-WebSocket-Key (per request)."""
    headers = [
        ("Connection", "Upgrade"),
        ("Pragma", "no-cache"),
        ("Cache-Control", "no-cache"),
        ("User-Agent", USER_AGENT),
        ("Upgrade", "websocket"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    headers.append(("Sec-WebSocket-Version", "13"))
    # Brotli and zstd are offered to secure contexts only.
    encodings = "gzip, deflate, br, zstd" if potentially_trustworthy(target) else "gzip, deflate"
    headers += [("Accept-Encoding", encodings), ("Accept-Language", "en-US,en;q=0.9")]
    return headers

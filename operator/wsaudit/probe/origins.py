"""Untrusted Origin cases: the Origins a strict server must refuse.

Browsers send cookies with the WebSocket handshake and apply no CORS to it, so the
server's Origin check is the only thing that stops Cross-Site WebSocket Hijacking. Each
case below is an Origin that a real, buggy check accepts; the bug and the fix are named
so that the user can go straight to the line of code.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from .target import TargetError, normalise_host

FOREIGN_ORIGIN = "https://wsaudit-foreign.example"
ATTACKER_SUFFIX = "wsaudit-attacker.example"
ATTACKER_LABEL = "wsaudit-attacker"
# "_" is accepted in host names by Chromium and Firefox, "`" and "$" by Safari.
SPECIAL_CHARACTERS = ("_", "`", "$")

_FIX = "compare the whole Origin (scheme, host and port) against an exact allow-list"


class OriginError(ValueError):
    """An allowed or rejected origin is not a valid serialised origin."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int | None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (443 if self.scheme == "https" else 80)


# Each probe parses its Origins about twenty times (cases, site relations, checks): a tenth
# of a probe's CPU before the cache.
@functools.lru_cache(maxsize=4096)
def parse_origin(value: str) -> Origin:
    """Parses `scheme://host[:port]` as browsers serialise an Origin (no path, no slash)."""
    text = value.strip()
    if any(ord(ch) < 0x21 or 0x7F <= ord(ch) <= 0x9F for ch in text):
        # It goes out verbatim in the Origin header: a control character would corrupt it.
        raise OriginError(f"{value!r} is not an origin: it contains spaces or control characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise OriginError(f"{value!r} is not an origin (expected https://host[:port])") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OriginError(f"{value!r} is not an origin (expected https://host[:port])")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise OriginError(
            f"{value!r} is not an origin: an Origin is scheme://host[:port] with no path"
        )
    try:
        host = normalise_host(parts.hostname)  # browsers serialise IDN hosts as punycode
    except TargetError as exc:
        raise OriginError(f"{value!r} is not an origin: {exc}") from None
    default = 443 if parts.scheme == "https" else 80
    return Origin(parts.scheme, host, None if port in (None, default) else port)


@dataclass(frozen=True)
class OriginCase:
    """One untrusted Origin (None: the header is left out) and what accepting it reveals."""

    check_id: str
    origin: str | None
    bug: str
    fix: str


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # bundled snapshot: no network at run time


def registrable_domain(host: str) -> str | None:
    """example.co.uk for app.example.co.uk; None for IP addresses and bare suffixes."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    if "." not in host:
        return None
    domain: str | None = _public_suffixes().privatesuffix(host)
    return domain


def bypass_variants(allowed: Origin) -> list[OriginCase]:
    """Origins derived from an allowed one that catch the classic validation bugs."""
    cases: list[OriginCase] = []
    port = f":{allowed.port}" if allowed.port is not None else ""

    def add(check_id: str, origin: Origin | str, bug: str) -> None:
        cases.append(OriginCase(f"origin.{check_id}", str(origin), bug, _FIX))

    add(
        "suffix-appended",
        f"{allowed.scheme}://{allowed.host}.{ATTACKER_SUFFIX}{port}",
        f"it likely compares a prefix (startswith('{allowed}') or a regex without $)",
    )
    domain = registrable_domain(allowed.host)
    if domain is not None:
        add(
            "domain-prefixed",
            Origin(allowed.scheme, f"{ATTACKER_LABEL}{domain}", allowed.port),
            f"it likely compares a suffix (endswith('{domain}')), which any domain "
            f"ending in those letters passes",
        )
        subdomain = allowed.host[: -len(domain)].rstrip(".")
        if subdomain:
            # app.example.com -> app-example.com: what an unescaped '.' in a regex matches,
            # and a domain anyone can register.
            add(
                "unescaped-dot",
                Origin(allowed.scheme, f"{subdomain}-{domain}", allowed.port),
                "it likely uses a regex with an unescaped '.', which matches any character",
            )
        add(
            "subdomain",
            Origin(allowed.scheme, f"{ATTACKER_LABEL}.{allowed.host}", allowed.port),
            "it accepts any subdomain, so a taken-over or user-content subdomain can "
            "hijack sessions; list the subdomains you trust explicitly",
        )
        if subdomain:
            # app.example.com -> wsaudit-attacker.example.com: what a check for "any
            # subdomain of the registrable domain" (https://[a-z0-9-]+\.example\.com) lets in.
            add(
                "sibling-subdomain",
                Origin(allowed.scheme, f"{ATTACKER_LABEL}.{domain}", allowed.port),
                f"it accepts every subdomain of {domain}, so any other site under it (a "
                "taken-over, staging or user-content subdomain) can hijack sessions; list "
                "the origins you trust explicitly",
            )
    for character in SPECIAL_CHARACTERS:
        # Scanners' parser-confusion probes (Corsy's special characters): a check that
        # extracts the host with a pattern stopping at the first unexpected character
        # reads "app.example.com" out of "app.example.com_.attacker.example".
        add(
            "special-character",
            f"{allowed.scheme}://{allowed.host}{character}.{ATTACKER_SUFFIX}{port}",
            f"it reads the host with a pattern that stops at {character!r}, so "
            f"{allowed.host}{character}.{ATTACKER_SUFFIX} passes as {allowed.host}",
        )
    if allowed.scheme == "https":
        add(
            "scheme-downgrade",
            Origin("http", allowed.host, allowed.port),
            "it ignores the scheme, so a plain-http page (injectable by anyone on the "
            "network path) is trusted",
        )
    other_port = 8443 if allowed.effective_port != 8443 else 9443
    add(
        "other-port",
        Origin(allowed.scheme, allowed.host, other_port),
        "it compares the host only, so another service on another port of the same host is trusted",
    )
    return cases


def untrusted_cases(
    allowed: list[Origin], rejected: list[Origin], bypass_checks: bool
) -> list[OriginCase]:
    """Every untrusted Origin to try, one case (or several with one id) per check id.

    A generated variant that is itself allowed is dropped: listing both http and https
    origins, say, is a choice, not a bug.
    """
    allowed_text = {str(origin) for origin in allowed}
    cases = [
        OriginCase(
            "origin.foreign",
            FOREIGN_ORIGIN,
            "it checks no Origin at all: any web page can open this socket with the "
            "visitor's cookies (Cross-Site WebSocket Hijacking)",
            f"check the Origin header during the handshake; {_FIX}",
        ),
        OriginCase(
            "origin.null",
            "null",
            "it trusts the 'null' Origin, which sandboxed iframes and file: pages send, "
            "so any page can forge it",
            "never allow-list 'null'",
        ),
        OriginCase(
            "origin.missing",
            None,
            "it accepts a handshake without an Origin header",
            "refuse handshakes without Origin if only browsers connect",
        ),
    ]
    cases.extend(
        OriginCase(
            "origin.rejected",
            str(origin),
            "it accepts an origin listed as rejected",
            f"remove it from the server's allow-list; {_FIX}",
        )
        for origin in rejected
    )
    if bypass_checks:
        for origin in allowed:
            cases.extend(
                case for case in bypass_variants(origin) if case.origin not in allowed_text
            )
    return cases

"""F5 NGINX Ingress Controller (nginx/kubernetes-ingress, annotations nginx.org/*).

Docs: https://docs.nginx.com/nginx-ingress-controller/configuration/ingress-resources/advanced-configuration-with-annotations/
Unlike ingress-nginx, WebSocket is opt-in per backend Service (nginx.org/websocket-services):
only those locations get `Upgrade`/`Connection` (internal/configs/version1/nginx.ingress.tmpl).
Times go through ParseTime (internal/configs/parsing_helpers.go): whole numbers per unit,
units y M w d h m s ms in that order and case-sensitive (`M` is months); a value it rejects
is logged and the 60 s default applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..controller import Context, Controller, services_of_websocket_paths, split_list
from ..durations import human
from ..model import Finding, Hop, Limit, Severity, set_annotation

PREFIX = "nginx.org/"
WEBSOCKET_SERVICES = f"{PREFIX}websocket-services"
READ_TIMEOUT = f"{PREFIX}proxy-read-timeout"
SEND_TIMEOUT = f"{PREFIX}proxy-send-timeout"
SSL_REDIRECT = f"{PREFIX}ssl-redirect"
LEGACY_SSL_REDIRECT = "ingress.kubernetes.io/ssl-redirect"
DEFAULT_TIMEOUT = 60.0  # internal/configs/config_params.go: ProxyReadTimeout: "60s"
# internal/configs/parsing_helpers.go timeRegexp, with [0-9] for Go's ASCII \d.
_TIME = re.compile(
    r"^([0-9]+y)??\s*([0-9]+M)??\s*([0-9]+w)??\s*([0-9]+d)??\s*([0-9]+h)??\s*([0-9]+m)??"
    r"\s*([0-9]+s?)??\s*([0-9]+ms)??$"
)
# nginx's units (ngx_parse_time): a month is 30 days, a year 365.
_SCALES = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_TIME_FORMAT = (
    "an nginx time F5 NGINX accepts: whole numbers, units y M w d h m s ms in that order, "
    "case-sensitive (M is months), e.g. 3600s or 1h"
)
# strconv.ParseBool, which GetMapKeyAsBool uses.
_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}

# Minus the proxy timeouts: controllers write them in different formats (F5 NGINX "1h",
# ingress-nginx bare seconds), so renaming one is no fix; foreign-annotation and the timeout
# rules judge them.
ANNOTATION_NAMES = frozenset(
    {
        "add-header",
        "add-header-inherit",
        "app-root",
        "basic-auth-realm",
        "basic-auth-secret",
        "client-body-buffer-size",
        "client-max-body-size",
        "custom-http-errors",
        "fail-timeout",
        "grpc-services",
        "health-checks",
        "health-checks-mandatory",
        "health-checks-mandatory-queue",
        "hsts",
        "hsts-behind-proxy",
        "hsts-include-subdomains",
        "hsts-max-age",
        "http-redirect-code",
        "jwt-key",
        "jwt-login-url",
        "jwt-realm",
        "jwt-token",
        "keepalive",
        "lb-method",
        "limit-req-burst",
        "limit-req-delay",
        "limit-req-dry-run",
        "limit-req-key",
        "limit-req-log-level",
        "limit-req-no-delay",
        "limit-req-rate",
        "limit-req-reject-code",
        "limit-req-scale",
        "limit-req-zone-size",
        "listen-ports",
        "listen-ports-ssl",
        "location-snippets",
        "max-conns",
        "max-fails",
        "path-regex",
        "policies",
        "proxy-buffer-size",
        "proxy-buffering",
        "proxy-buffers",
        "proxy-busy-buffers-size",
        "proxy-hide-headers",
        "proxy-max-temp-file-size",
        "proxy-next-upstream",
        "proxy-next-upstream-timeout",
        "proxy-next-upstream-tries",
        "proxy-pass-headers",
        "proxy-redirect-from",
        "proxy-redirect-to",
        "proxy-set-headers",
        "redirect-to-https",
        "rewrite-target",
        "rewrites",
        "server-snippets",
        "server-tokens",
        "slow-start",
        "ssl-ciphers",
        "ssl-prefer-server-ciphers",
        "ssl-services",
        "sticky-cookie-services",
        "upstream-zone-size",
        "use-cluster-ip",
        "websocket-services",
        # ssl-redirect is read under ingress.kubernetes.io/ too: legacy_ssl_redirect judges it.
    }
)


def parse_time(value: str) -> float | None:
    """Seconds, as F5 NGINX's ParseTime accepts the value, or None when it rejects it."""
    if not value.strip():
        return None
    match = _TIME.match(value)
    if match is None:
        return None
    total = 0.0
    for part, scale in zip(match.groups(), _SCALES, strict=True):
        if part:
            total += int(part.rstrip("yMwdhms")) * scale
    return total


def _wanted(ctx: Context) -> str:
    return f"{ctx.settings.min_timeout_seconds:g}s"


def websocket_services(ctx: Context) -> Iterator[Finding]:
    listed = split_list(ctx.annotations.get(WEBSOCKET_SERVICES))
    missing = [s for s in services_of_websocket_paths(ctx.ingress) if s not in listed]
    if missing:
        wanted = ",".join(sorted(listed | set(missing)))
        yield ctx.finding(
            "websocket-services",
            Severity.ERROR,
            f"Service {', '.join(missing)} serves WebSocket paths but is not listed in "
            f"{WEBSOCKET_SERVICES}: NGINX proxies it without the Upgrade headers, so the "
            "handshake fails",
            f'set {WEBSOCKET_SERVICES}: "{wanted}" on the Ingress',
            (set_annotation(WEBSOCKET_SERVICES, wanted),),
        )


def _timeout(ctx: Context, key: str) -> tuple[float, str, str | None]:
    """The effective seconds, how they came about, and the raw value when it is invalid."""
    raw = ctx.annotations.get(key)
    if raw is None:
        return DEFAULT_TIMEOUT, f"{key} is not set, so the default 60 s applies", None
    seconds = parse_time(raw)
    if seconds is None:
        return DEFAULT_TIMEOUT, f"{key} {raw!r} is rejected, so the default 60 s applies", raw
    return seconds, f"{key} is {raw!r} ({human(seconds)})", None


def _invalid(ctx: Context, key: str, raw: str, severity: Severity) -> Finding:
    return ctx.finding(
        f"{key.removeprefix(PREFIX)}-invalid",
        severity,
        f"{key} is {raw!r}, which is not {_TIME_FORMAT}: F5 NGINX logs an error and uses "
        "its default 60 s",
        f'set {key}: "{_wanted(ctx)}" on the Ingress',
        (set_annotation(key, _wanted(ctx)),),
    )


def read_timeout(ctx: Context) -> Iterator[Finding]:
    seconds, origin, invalid = _timeout(ctx, READ_TIMEOUT)
    wanted = ctx.settings.min_timeout_seconds
    if invalid is not None:
        yield _invalid(ctx, READ_TIMEOUT, invalid, Severity.WARNING)  # its fix sets the minimum
    elif seconds < wanted:
        yield ctx.finding(
            "proxy-read-timeout",
            Severity.WARNING,
            f"{origin}: NGINX closes a WebSocket on which the backend sends nothing for that "
            f"long, under the {human(wanted)} wsaudit expects for long-lived connections "
            "(traffic in either direction resets it)",
            f'set {READ_TIMEOUT}: "{_wanted(ctx)}" on the Ingress',
            (set_annotation(READ_TIMEOUT, _wanted(ctx)),),
        )


def send_timeout(ctx: Context) -> Iterator[Finding]:
    """Said only when someone set it: the default needs no word."""
    if SEND_TIMEOUT not in ctx.annotations:
        return
    seconds, origin, invalid = _timeout(ctx, SEND_TIMEOUT)
    if invalid is not None:
        yield _invalid(ctx, SEND_TIMEOUT, invalid, Severity.INFO)
    elif seconds < ctx.settings.min_timeout_seconds:
        yield ctx.finding(
            "proxy-send-timeout",
            Severity.INFO,
            f"{origin}: this does not cut idle WebSockets; NGINX arms it on an upgraded "
            "connection only while a write to the backend is blocked. Only "
            f"{READ_TIMEOUT} cuts an idle WebSocket",
            f"nothing to do for idle connections; {READ_TIMEOUT} is the one to raise",
        )


def _bool(value: str | None) -> bool | None:
    """strconv.ParseBool, as GetMapKeyAsBool reads it (None: absent or invalid)."""
    return None if value is None else _BOOLS.get(value)


def https_redirect(ctx: Context) -> Iterator[Finding]:
    """nginx.org/ssl-redirect wins; ingress.kubernetes.io/ssl-redirect is read only without
    it (internal/configs/annotations.go). The redirect is on by default with TLS."""
    key = SSL_REDIRECT if SSL_REDIRECT in ctx.annotations else LEGACY_SSL_REDIRECT
    if _bool(ctx.annotations.get(key)) is False:
        yield ctx.finding(
            "https-redirect",
            Severity.WARNING,
            f'{key} is "{ctx.annotations[key]}": pages stay reachable over plain http, where '
            "browsers open ws:// or block wss:// as mixed content",
            f"remove {key} (the redirect is on by default with TLS)",
            (set_annotation(SSL_REDIRECT, None), set_annotation(LEGACY_SSL_REDIRECT, None)),
        )


def legacy_ssl_redirect(ctx: Context) -> Iterator[Finding]:
    value = ctx.annotations.get(LEGACY_SSL_REDIRECT)
    if value is None:
        return
    if SSL_REDIRECT in ctx.annotations:
        if _bool(value) != _bool(ctx.annotations[SSL_REDIRECT]):
            yield ctx.finding(
                "legacy-ssl-redirect",
                Severity.WARNING,
                f"{LEGACY_SSL_REDIRECT} is {value!r} but {SSL_REDIRECT} is "
                f"{ctx.annotations[SSL_REDIRECT]!r}: F5 NGINX reads only {SSL_REDIRECT} "
                "then, so the deprecated key is ignored",
                f"remove {LEGACY_SSL_REDIRECT}",
                (set_annotation(LEGACY_SSL_REDIRECT, None),),
            )
        return
    yield ctx.finding(
        "legacy-ssl-redirect",
        Severity.INFO,
        f"{LEGACY_SSL_REDIRECT} is deprecated in F5 NGINX; {SSL_REDIRECT} is the key (and "
        "wins when both are set)",
        f"rename it to {SSL_REDIRECT}",
        (set_annotation(LEGACY_SSL_REDIRECT, None), set_annotation(SSL_REDIRECT, value)),
    )


def limits(ctx: Context) -> Iterator[Limit]:
    seconds, origin, _ = _timeout(ctx, READ_TIMEOUT)
    yield Limit("idle", seconds, Hop.CONTROLLER, f"proxy_read_timeout: {origin}")
    yield Limit("lifetime", None, Hop.CONTROLLER, "none")


CONTROLLER = Controller(
    id="nginx-inc",
    title="F5 NGINX Ingress Controller",
    docs="https://docs.nginx.com/nginx-ingress-controller/configuration/ingress-resources/advanced-configuration-with-annotations/",
    ingress_class_controllers=("nginx.org/ingress-controller",),
    class_names=("nginx",),
    annotation_prefixes=(PREFIX, "nginx.com/"),
    rules=(
        websocket_services,
        read_timeout,
        send_timeout,
        https_redirect,
        legacy_ssl_redirect,
    ),
    known_mistakes={
        f"{PREFIX}websocket": f"use {WEBSOCKET_SERVICES} with the backend Service names",
    },
    limits=limits,
    annotation_names=ANNOTATION_NAMES,
)

"""HAProxy Ingress (jcmoraisjr/haproxy-ingress). WebSockets run in HAProxy's tunnel mode,
bounded by `timeout tunnel` (default 1h), settable per Ingress.

What its code does (jcmoraisjr/haproxy-ingress@465a51ce67a788872faa4f04027defa6805ff87f):
- pkg/converters/ingress/annotations/updater.go:103-115: a time must match
  `^[0-9]+(us|ms|s|m|h|d)$`; anything else, a bare number included, is logged as invalid
  and ignored (its docs, keys.md:3070, say a missing unit means milliseconds: the code wins).
- backend.go:1135-1136 applies the per-Ingress value; ignored, the backend gets no `timeout
  tunnel` line (haproxy.tmpl:376-378) and the defaults section's applies: `timeout-tunnel`
  from the global ConfigMap, 1h by default (defaults.go:80, haproxy.tmpl:183-185).
- The global ConfigMap (`--configmap`, named `haproxy-ingress` by the installation,
  docs/content/en/docs/configuration/keys.md:74, docs/haproxy-ingress.yaml:184-216) sets the
  defaults section's `timeout tunnel` through the same validateTime (global.go:314): an
  invalid value leaves no `timeout tunnel` line at all, and HAProxy then bounds a tunnel by
  timeout client and timeout server (50s each by default, defaults.go:78,118).
- controller/config/options.go:27: annotations are read under `haproxy-ingress.github.io/`
  and `ingress.kubernetes.io/` (in that order of precedence) by default.

Docs: https://haproxy-ingress.github.io/docs/configuration/keys/#timeout
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ..controller import (
    Context,
    Controller,
    redirect_disabled_rule,
)
from ..durations import human
from ..model import Finding, Hop, Limit, Severity, set_annotation

CONFIG_MAP_NAMES = ("haproxy-ingress",)
CLIENT_SERVER_DEFAULT = 50.0  # defaults.go:78 (timeout-server), :118 (timeout-client)

PREFIX = "haproxy-ingress.github.io/"
ALIAS = "ingress.kubernetes.io/"
PREFIXES = (PREFIX, ALIAS)
TUNNEL_DEFAULT = 3600.0
# updater.go:103: the only times the controller accepts.
_VALID_TIME = re.compile(r"([0-9]+)(us|ms|s|m|h|d)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time(value: str) -> float | None:
    """Seconds for a time HAProxy Ingress accepts, None for one it ignores (a bare number,
    a space, a compound such as 1h30m)."""
    match = _VALID_TIME.fullmatch(value)
    return int(match.group(1)) * _UNIT[match.group(2)] if match else None


def _setting(ctx: Context, name: str) -> tuple[str, str] | None:
    """(key, value) of the first prefix that sets `name`, in the controller's precedence."""
    for prefix in PREFIXES:
        if (value := ctx.annotations.get(f"{prefix}{name}")) is not None:
            return f"{prefix}{name}", value
    return None


def _global_time(ctx: Context, name: str, default: float | None) -> tuple[float | None, str]:
    """A time of the global ConfigMap as validateTime leaves it: (seconds, what sets it);
    None seconds when it is there but ignored."""
    found = ctx.controller_config()
    if found is None or name not in found[1]:
        return default, f"{name} default {human(default)}" if default else f"{name} not set"
    ref, raw = found[0], found[1][name]
    seconds = parse_time(raw)
    if seconds is None:
        return None, f"ConfigMap {ref} {name} {raw!r} ignored"
    return seconds, f"ConfigMap {ref} {name}: {raw!r}"


def _defaults_tunnel(ctx: Context) -> tuple[float, str]:
    """The defaults section's tunnel timeout, or without one (an invalid global value) the
    shorter of timeout client and timeout server, which then bound the tunnel."""
    seconds, origin = _global_time(ctx, "timeout-tunnel", TUNNEL_DEFAULT)
    if seconds is not None:
        return seconds, origin
    client, client_origin = _global_time(ctx, "timeout-client", CLIENT_SERVER_DEFAULT)
    server_found = _setting(ctx, "timeout-server")
    server_seconds = parse_time(server_found[1]) if server_found else None
    server: float | None
    if server_found is not None and server_seconds is not None:
        server, server_origin = server_seconds, f"{server_found[0]}: {server_found[1]!r}"
    else:
        server, server_origin = _global_time(ctx, "timeout-server", CLIENT_SERVER_DEFAULT)
    bounds = [(s, o) for s, o in ((client, client_origin), (server, server_origin)) if s]
    if not bounds:
        return CLIENT_SERVER_DEFAULT, f"{origin}, so no timeout tunnel"
    shortest, shortest_origin = min(bounds)
    return shortest, (
        f"{origin}, so no timeout tunnel: timeout client and timeout server bound the tunnel "
        f"({shortest_origin})"
    )


def _tunnel(ctx: Context) -> tuple[float, str]:
    found = _setting(ctx, "timeout-tunnel")
    fallback, origin = _defaults_tunnel(ctx)
    if found is not None:
        key, raw = found
        seconds = parse_time(raw)
        if seconds is not None:
            return seconds, f"{key}: {raw!r}"
        return fallback, f"{origin} ({key} {raw!r} ignored)"
    return fallback, origin


def tunnel_timeout(ctx: Context) -> Iterator[Finding]:
    wanted = ctx.settings.min_timeout_seconds
    found = _setting(ctx, "timeout-tunnel")
    key = found[0] if found else f"{PREFIX}timeout-tunnel"
    fix_value = f"{wanted:g}s"
    fix = f'set {key}: "{fix_value}" on the Ingress (a number with a unit: us, ms, s, m, h, d)'
    change = (set_annotation(key, fix_value),)
    fallback, origin = _defaults_tunnel(ctx)
    if found is not None:
        raw = found[1]
        seconds = parse_time(raw)
        if seconds is None:
            bare = raw.strip().isdigit()
            yield ctx.finding(
                "timeout-tunnel-invalid",
                Severity.WARNING,
                f"{key} is {raw!r}, which HAProxy Ingress ignores: it accepts only a number "
                "with a unit (us, ms, s, m, h or d)"
                + (
                    " and drops a bare number although its docs say one means milliseconds"
                    if bare
                    else ""
                )
                + f", so the defaults section's applies: {origin} ({human(fallback)})",
                fix,
                change,
            )
            return
        stated = f"{key} is {raw!r} ({human(seconds)})"
    else:
        seconds = fallback
        stated = f"{key} is not set, so the defaults section's applies: {origin} ({human(seconds)})"
    if seconds < wanted:
        yield ctx.finding(
            "timeout-tunnel",
            Severity.WARNING,
            f"{stated}: once a WebSocket is upgraded HAProxy is in tunnel mode and "
            "`timeout tunnel` replaces timeout client and timeout server, so a WebSocket "
            f"quiet for longer is cut, under the {human(wanted)} wsaudit expects",
            fix + " (the annotation wins over the global ConfigMap)",
            change,
        )


def config_tunnel_timeout(ctx: Context) -> Iterator[Finding]:
    """An invalid timeout-tunnel in the global ConfigMap: ignored, so the defaults section
    has no `timeout tunnel` and every backend without its own is cut at timeout client or
    server. Said when this Ingress relies on it (no valid annotation of its own)."""
    found = ctx.controller_config()
    seconds, _ = _global_time(ctx, "timeout-tunnel", TUNNEL_DEFAULT)
    own = _setting(ctx, "timeout-tunnel")
    if found is None or seconds is not None or (own and parse_time(own[1]) is not None):
        return
    raw = found[1]["timeout-tunnel"]
    wanted = f"{ctx.settings.min_timeout_seconds:g}s"
    yield ctx.finding(
        "config-timeout-tunnel-invalid",
        Severity.WARNING,
        f"ConfigMap {found[0]} has timeout-tunnel: {raw!r}, which HAProxy Ingress ignores (a "
        "number with a unit only: us, ms, s, m, h, d): the defaults section then has no "
        "`timeout tunnel`, not even the 1 h default, and tunnels are cut at timeout client "
        f"or timeout server ({human(_defaults_tunnel(ctx)[0])} here)",
        f'set timeout-tunnel: "{wanted}" in ConfigMap {found[0]}',
        (ctx.config_map_change("timeout-tunnel", wanted),),
    )


def limits(ctx: Context) -> Iterable[Limit]:
    seconds, setting = _tunnel(ctx)
    return [Limit("idle", seconds, Hop.CONTROLLER, setting)]


# pkg/converters/ingress/types/annotations.go: the Host and Backend keys (an Ingress or a
# Service may set them).
ANNOTATION_NAMES = frozenset(
    [
        "acme-preferred-chain",
        "app-root",
        "auth-tls-error-page",
        "auth-tls-secret",
        "auth-tls-strict",
        "auth-tls-verify-client",
        "cert-signer",
        "redirect-from",
        "redirect-from-regex",
        "server-alias",
        "server-alias-regex",
        "ssl-always-add-https",
        "ssl-always-follow-redirect",
        "ssl-ciphers",
        "ssl-cipher-suites",
        "ssl-options-host",
        "ssl-passthrough",
        "ssl-passthrough-http-port",
        "tls-alpn",
        "affinity",
        "agent-check-addr",
        "agent-check-interval",
        "agent-check-port",
        "agent-check-send",
        "allowlist-source-range",
        "allowlist-source-header",
        "assign-backend-server-id",
        "auth-method",
        "auth-realm",
        "auth-secret",
        "auth-signin",
        "auth-url",
        "backend-check-interval",
        "backend-protocol",
        "balance-algorithm",
        "blue-green-balance",
        "blue-green-deploy",
        "blue-green-mode",
        "config-backend",
        "cors-allow-credentials",
        "cors-allow-headers",
        "cors-allow-methods",
        "cors-allow-origin",
        "cors-enable",
        "cors-expose-headers",
        "cors-max-age",
        "denylist-source-range",
        "headers",
        "health-check-interval",
        "health-check-uri",
        "hsts",
        "hsts-include-subdomains",
        "hsts-max-age",
        "hsts-preload",
        "initial-weight",
        "limit-connections",
        "limit-rps",
        "limit-whitelist",
        "maxconn-server",
        "maxqueue-server",
        "oauth",
        "path-type",
        "proxy-body-size",
        "proxy-protocol",
        "redirect-to",
        "rewrite-target",
        "secure-backends",
        "secure-crt-secret",
        "secure-verify-ca-secret",
        "service-upstream",
        "session-cookie-name",
        "session-cookie-strategy",
        "ssl-redirect",
        "timeout-connect",
        "timeout-http-request",
        "timeout-keep-alive",
        "timeout-queue",
        "timeout-server",
        "timeout-server-fin",
        "timeout-tunnel",
        "use-resolver",
        "waf",
        "waf-mode",
        "whitelist-source-range",
    ]
)

CONTROLLER = Controller(
    id="haproxy-ingress",
    title="HAProxy Ingress (haproxy-ingress.github.io)",
    docs="https://haproxy-ingress.github.io/docs/configuration/keys/",
    ingress_class_controllers=("haproxy-ingress.github.io/controller",),
    class_names=("haproxy",),
    annotation_prefixes=(PREFIX,),
    rules=(
        tunnel_timeout,
        config_tunnel_timeout,
        redirect_disabled_rule(*(f"{prefix}ssl-redirect" for prefix in PREFIXES)),
    ),
    limits=limits,
    config_map_names=CONFIG_MAP_NAMES,
    alias_prefixes=(ALIAS,),
    annotation_names=ANNOTATION_NAMES,
)

"""HAProxy Kubernetes Ingress Controller (haproxytech/kubernetes-ingress, haproxy.org/*).

What its code does (haproxytech/kubernetes-ingress@fc1206761aa7948e051eebd56c736802e1d7e226):
- pkg/annotations/validators/validations.go:76-80: annotations are read under
  `haproxy.org/`, `ingress.kubernetes.io/` and `haproxy.com/` (the prefix is stripped in
  pkg/store/convert.go:223-231).
- pkg/annotations/annotations.go:102 and pkg/controller/global.go:137-138: timeout-tunnel
  is a defaults-section setting processed from the controller's ConfigMap only; an Ingress
  annotation of that name is never read.
- pkg/annotations/global/timeout.go:28-33 with pkg/utils/utils.go:61-83: a number with
  ms/s/m/h/d, a bare number is milliseconds; anything else is an error and the value is not
  set, so pkg/haproxy/env/defaults.go:100-101 puts the default 1h back.

Docs: https://www.haproxy.com/documentation/kubernetes-ingress/community/configuration-reference/
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from ..controller import Context, Controller
from ..durations import human
from ..model import Change, Finding, Hop, Limit, Severity, set_annotation

PREFIX = "haproxy.org/"
PREFIXES = (PREFIX, "ingress.kubernetes.io/", "haproxy.com/")
TUNNEL_KEY = "timeout-tunnel"
TUNNEL_DEFAULT = 3600.0
# The chart's ConfigMap is named after the release (haproxytech/helm-charts
# kubernetes-ingress); deploy/haproxy-ingress*.yaml name it haproxy-kubernetes-ingress.
CONFIG_MAP_NAMES = ("haproxy-kubernetes-ingress", "kubernetes-ingress")
_TIME = re.compile(r"([0-9]+)(ms|s|m|h|d)?")
_UNIT = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1e-3}


def parse_time(value: str) -> float | None:
    """Seconds as utils.ParseTime reads it (a bare number is milliseconds), or None."""
    match = _TIME.fullmatch(value)
    return int(match.group(1)) * _UNIT[match.group(2)] if match else None


def _config_change(ctx: Context, value: str) -> Change:
    return ctx.config_map_change(TUNNEL_KEY, value)


def _where(ctx: Context) -> str:
    found = ctx.controller_config()
    return f"ConfigMap {found[0]}" if found else "the controller's ConfigMap"


def _configured(ctx: Context) -> tuple[float, str, str | None]:
    """(seconds, what sets it, the raw ConfigMap value when invalid)."""
    found = ctx.controller_config()
    if found is None:
        return (
            TUNNEL_DEFAULT,
            f"{TUNNEL_KEY} default {human(TUNNEL_DEFAULT)} (ConfigMap not visible)",
            None,
        )
    ref, data = found
    raw = data.get(TUNNEL_KEY)
    if raw is None:
        return (
            TUNNEL_DEFAULT,
            f"{TUNNEL_KEY} default {human(TUNNEL_DEFAULT)} (not set in {ref})",
            None,
        )
    seconds = parse_time(raw)
    if seconds is None:
        return (
            TUNNEL_DEFAULT,
            f"{TUNNEL_KEY} default {human(TUNNEL_DEFAULT)} ({ref}: {raw!r} rejected)",
            raw,
        )
    return seconds, f"{TUNNEL_KEY}: {raw!r} in ConfigMap {ref}", None


def tunnel_timeout(ctx: Context) -> Iterator[Finding]:
    wanted = ctx.settings.min_timeout_seconds
    fix_value = f"{wanted:g}s"
    on_ingress = sorted(
        f"{p}{TUNNEL_KEY}" for p in PREFIXES if f"{p}{TUNNEL_KEY}" in ctx.annotations
    )
    seconds, setting, invalid = _configured(ctx)
    if on_ingress:
        moved = parse_time(ctx.annotations[on_ingress[0]])
        value = (
            ctx.annotations[on_ingress[0]] if moved is not None and moved >= wanted else fix_value
        )
        if invalid is None and seconds >= wanted and ctx.controller_config() is not None:
            changes: tuple[Change, ...] = ()  # the ConfigMap already has a good value
        else:
            changes = (_config_change(ctx, value),)
        yield ctx.finding(
            "timeout-tunnel-on-ingress",
            Severity.WARNING,
            f"{', '.join(on_ingress)} on an Ingress does nothing: this controller reads "
            f"{TUNNEL_KEY} (which bounds WebSocket connections) only from its ConfigMap; "
            f"{setting} applies",
            f'remove the annotation; set {TUNNEL_KEY}: "{value}" in {_where(ctx)}',
            (*(set_annotation(key, None) for key in on_ingress), *changes),
        )
    if invalid is not None:
        yield ctx.finding(
            f"{TUNNEL_KEY}-invalid",
            Severity.WARNING,
            f"{TUNNEL_KEY} is {invalid!r} in {_where(ctx)}, which is not a number with ms, s, "
            "m, h or d (a bare number is milliseconds): the controller rejects it and keeps "
            f"the default {human(TUNNEL_DEFAULT)}",
            f'set {TUNNEL_KEY}: "{fix_value}" in {_where(ctx)}',
            (_config_change(ctx, fix_value),),
        )
    elif seconds < wanted:
        yield ctx.finding(
            TUNNEL_KEY,
            Severity.WARNING,
            f"{setting} ({human(seconds)}): once upgraded a WebSocket is an HAProxy tunnel "
            "and `timeout tunnel` replaces timeout client and server, so one quiet for longer "
            f"is cut, under the {human(wanted)} wsaudit expects",
            f'set {TUNNEL_KEY}: "{fix_value}" in {_where(ctx)}',
            (_config_change(ctx, fix_value),),
        )
    elif ctx.controller_config() is None and not on_ingress:
        yield ctx.finding(
            TUNNEL_KEY,
            Severity.INFO,
            f"WebSocket connections are bounded by the controller's {TUNNEL_KEY}, set in its "
            f"ConfigMap (default {human(TUNNEL_DEFAULT)}), not on the Ingress; the ConfigMap "
            "is not visible",
            f"check {TUNNEL_KEY} in the controller's ConfigMap ({' or '.join(CONFIG_MAP_NAMES)} "
            "with the Helm chart); give it to wsaudit lint with -f",
        )


def limits(ctx: Context) -> Iterable[Limit]:
    seconds, setting, _ = _configured(ctx)
    return [Limit("idle", seconds, Hop.CONTROLLER, setting)]


# pkg/annotations/annotations.go: what an Ingress or a Service may set (the defaults and
# global keys, timeout-tunnel among them, are ConfigMap-only).
ANNOTATION_NAMES = frozenset(
    [
        "abortonclose",
        "allow-list",
        "auth-realm",
        "auth-secret",
        "auth-type",
        "check",
        "check-http",
        "check-interval",
        "cors-allow-credentials",
        "cors-allow-headers",
        "cors-allow-methods",
        "cors-allow-origin",
        "cors-enable",
        "cors-max-age",
        "cors-respond-to-options",
        "deny-list",
        "forwarded-for",
        "load-balance",
        "path-rewrite",
        "pod-maxconn",
        "rate-limit-period",
        "rate-limit-requests",
        "rate-limit-size",
        "rate-limit-status-code",
        "rate-limit-whitelist",
        "request-capture",
        "request-capture-len",
        "request-redirect",
        "request-redirect-code",
        "request-set-header",
        "response-set-header",
        "send-proxy-protocol",
        "server-ca",
        "server-crt",
        "server-proto",
        "server-ssl",
        "set-host",
        "src-ip-header",
        "ssl-redirect",
        "ssl-redirect-code",
        "ssl-redirect-port",
        "timeout-check",
        "timeout-server",
    ]
)

CONTROLLER = Controller(
    id="haproxy-tech",
    title="HAProxy Kubernetes Ingress Controller (haproxy.org)",
    docs="https://www.haproxy.com/documentation/kubernetes-ingress/community/configuration-reference/ingress/",
    ingress_class_controllers=("haproxy.org/ingress-controller",),
    class_names=("haproxy",),
    annotation_prefixes=(PREFIX, "haproxy.com/"),
    rules=(tunnel_timeout,),
    limits=limits,
    config_map_names=CONFIG_MAP_NAMES,
    alias_prefixes=("ingress.kubernetes.io/",),
    annotation_names=ANNOTATION_NAMES,
)

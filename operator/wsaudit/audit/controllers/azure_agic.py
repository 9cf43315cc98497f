"""Azure Application Gateway Ingress Controller (AGIC).

The backend setting's request timeout (`appgw.ingress.kubernetes.io/request-timeout`,
default 30 s, pkg/appgw/backendhttpsettings.go) "also applies to the WebSocket session"
(Application Gateway's WebSocket doc), as an idle timeout: the doc asks for a timeout above
the ping/pong interval, so traffic keeps the session open. The default health probe requests
the Ingress path itself (pkg/appgw/health_probes.go) unless the pod has an HTTP readiness or
liveness probe: a WebSocket endpoint answers a plain GET with 400 and the pods turn
unhealthy (docs/how-tos/websockets.md).

Docs: https://azure.github.io/application-gateway-kubernetes-ingress/annotations/
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..controller import (
    Context,
    Controller,
    redirect_required_rule,
)
from ..durations import human
from ..load_balancers import long_polling_paths
from ..model import Finding, Hop, Limit, Severity, set_annotation

PREFIX = "appgw.ingress.kubernetes.io/"
REQUEST_TIMEOUT = f"{PREFIX}request-timeout"
SSL_REDIRECT = f"{PREFIX}ssl-redirect"
AFFINITY = f"{PREFIX}cookie-based-affinity"
PROBE_PATH = f"{PREFIX}health-probe-path"
SSL_CERTIFICATE = f"{PREFIX}appgw-ssl-certificate"
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 86400.0  # Application Gateway accepts 1-86400 s


def _timeout(ctx: Context) -> tuple[float | None, str | None]:
    """The effective request timeout (None: the gateway update is rejected), and why the
    value is not used as written."""
    raw = ctx.annotations.get(REQUEST_TIMEOUT)
    if raw is None:
        return DEFAULT_TIMEOUT, None
    try:
        value = int(raw)  # strconv.Atoi in annotations.parseInt32
    except ValueError:
        return DEFAULT_TIMEOUT, (
            f"which is not a whole number of seconds: AGIC ignores it (an InvalidAnnotation "
            f"event) and uses its default {human(DEFAULT_TIMEOUT)}"
        )
    if not 1 <= value <= MAX_TIMEOUT:
        return None, (
            f"outside the 1-{MAX_TIMEOUT:g} s Application Gateway accepts: AGIC passes it on "
            "and Azure rejects the whole gateway update, so no Ingress change reaches it"
        )
    return float(value), None


def request_timeout(ctx: Context) -> Iterator[Finding]:
    wanted = min(ctx.settings.min_timeout_seconds, MAX_TIMEOUT)
    seconds, problem = _timeout(ctx)
    changes = (set_annotation(REQUEST_TIMEOUT, f"{wanted:g}"),)
    fix = f'set {REQUEST_TIMEOUT}: "{wanted:g}" on the Ingress'
    if problem is not None:
        yield ctx.finding(
            "request-timeout-invalid",
            Severity.WARNING if seconds is not None else Severity.ERROR,
            f"{REQUEST_TIMEOUT} is {ctx.annotations.get(REQUEST_TIMEOUT)!r}, {problem}",
            fix,
            changes,
        )
        return
    if seconds is None or seconds >= wanted:
        return
    stated = (
        f"{REQUEST_TIMEOUT} is not set, so the default {human(seconds)} applies"
        if REQUEST_TIMEOUT not in ctx.annotations
        else f"{REQUEST_TIMEOUT} is {ctx.annotations[REQUEST_TIMEOUT]!r} ({human(seconds)})"
    )
    yield ctx.finding(
        "request-timeout",
        Severity.WARNING,
        f"{stated}: Application Gateway applies the request timeout to the WebSocket session "
        f"and closes WebSockets quiet for longer, under the {human(wanted)} wsaudit expects "
        "for long-lived connections",
        fix,
        changes,
    )


def cookie_affinity(ctx: Context) -> Iterator[Finding]:
    paths = long_polling_paths(ctx.ingress)
    if not paths or ctx.annotations.get(AFFINITY, "").strip().lower() == "true":
        return
    yield ctx.finding(
        "cookie-affinity",
        Severity.WARNING,
        f"path {', '.join(paths)} looks like Socket.IO, SockJS or SignalR, whose HTTP "
        "long-polling fallback and handshake requests must reach the same pod, but "
        f'{AFFINITY} is not "true"',
        f'set {AFFINITY}: "true" on the Ingress',
        (set_annotation(AFFINITY, "true"),),
    )


def health_probe(ctx: Context) -> Iterator[Finding]:
    if ctx.annotations.get(PROBE_PATH):
        return
    paths = sorted({b.path for b in ctx.ingress.websocket_backends()})
    yield ctx.finding(
        "health-probe",
        Severity.INFO,
        f"{PROBE_PATH} is not set: unless the pod has an HTTP readiness or liveness probe, "
        f"Application Gateway probes the Ingress path itself ({', '.join(paths)}) with a plain "
        "GET, which a WebSocket endpoint answers with 400: the pods turn unhealthy and clients "
        "get 502",
        f'set {PROBE_PATH}: "/healthz" (a path your server answers 200 on), or give the pod an '
        "HTTP readinessProbe",
        (set_annotation(PROBE_PATH, "/healthz"),),
    )


def tls_terminated(ctx: Context) -> str | None:
    certificate = ctx.annotations.get(SSL_CERTIFICATE)
    return f"Application Gateway, with certificate {certificate}" if certificate else None


def limits(ctx: Context) -> Iterable[Limit]:
    seconds, _ = _timeout(ctx)
    return [
        Limit(
            "idle",
            seconds,
            Hop.LOAD_BALANCER,
            f"{REQUEST_TIMEOUT} ({human(DEFAULT_TIMEOUT)} default)",
        )
    ]


CONTROLLER = Controller(
    id="azure-agic",
    title="Azure Application Gateway Ingress Controller",
    docs="https://azure.github.io/application-gateway-kubernetes-ingress/annotations/",
    ingress_class_controllers=("azure/application-gateway",),
    # The IngressClass AGIC installs, and the legacy annotation value its own WebSocket how-to
    # uses (kubernetes.io/ingress.class: azure/application-gateway).
    class_names=("azure-application-gateway", "azure/application-gateway"),
    annotation_prefixes=(PREFIX,),
    rules=(
        request_timeout,
        redirect_required_rule(
            SSL_REDIRECT, "true", satisfied=lambda value: value.strip().lower() == "true"
        ),
        cookie_affinity,
        health_probe,
    ),
    tls_annotations=(SSL_CERTIFICATE,),
    limits=limits,
    tls_terminated=tls_terminated,
    annotation_names=frozenset(
        {
            "backend-path-prefix",
            "backend-hostname",
            "health-probe-hostname",
            "health-probe-port",
            "health-probe-path",
            "health-probe-status-codes",
            "health-probe-interval",
            "health-probe-timeout",
            "health-probe-unhealthy-threshold",
            "cookie-based-affinity",
            "cookie-based-affinity-distinct-name",
            "request-timeout",
            "connection-draining",
            "connection-draining-timeout",
            "ssl-redirect",
            "use-private-ip",
            "override-frontend-port",
            "appgw-ssl-certificate",
            "appgw-ssl-profile",
            "appgw-trusted-root-certificate",
            "rewrite-rule-set",
        }
    ),
    is_load_balancer=True,
)

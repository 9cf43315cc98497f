"""Traefik. Nothing is needed on the Ingress for WebSockets, and Traefik puts no idle or
lifetime limit on an upgraded connection by default.

Its entrypoint `transport.respondingTimeouts` (readTimeout 60 s, writeTimeout, idleTimeout
180 s by default: traefik/traefik@fd5a576df2e8aeb0bfc8a96b6ef6e60a61f7ec0a
pkg/config/static/static_config.go:47-51,208-209) become the deadlines of Go's http.Server
(pkg/server/server_entrypoint_tcp.go:733-735, and the connection-level ones at :273-285).
A WebSocket is proxied by hijacking the client connection (pkg/proxy/fast/upgrade.go:62;
httputil.ReverseProxy does the same), and Go's net/http clears every deadline on hijack
(golang/go@go1.26.8 src/net/http/server.go:325, `rwc.SetDeadline(time.Time{})`): those
timeouts bound the handshake and keep-alive between requests, not an established WebSocket.

A router is TLS when `traefik.ingress.kubernetes.io/router.tls: "true"` or any
`router.tls.*` (e.g. `router.tls.certresolver`) is set
(pkg/provider/kubernetes/ingress/annotations.go:30, kubernetes.go:775), with no spec.tls.

Docs: https://doc.traefik.io/traefik/routing/entrypoints/#respondingtimeouts
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..controller import Context, Controller
from ..load_balancers import affinity_message, long_polling_services
from ..model import Finding, Hop, Limit, Severity, set_annotation

PREFIX = "traefik.ingress.kubernetes.io/"
ROUTER_TLS = f"{PREFIX}router.tls"


def entrypoint_timeouts(ctx: Context) -> Iterator[Finding]:
    yield ctx.finding(
        "entrypoint-timeouts",
        Severity.INFO,
        "Traefik needs no Ingress annotation for WebSockets and sets no idle or lifetime "
        "limit on an upgraded connection: the entrypoint's respondingTimeouts (readTimeout "
        "60 s, idleTimeout 180 s by default) bound the handshake and idle keep-alive "
        "connections between requests only, because Go's net/http clears the connection's "
        "deadlines when Traefik hijacks it for the upgrade",
        "nothing to set in Traefik; what closes a quiet WebSocket is a load balancer in front, "
        "the backend, or a Traefik restart (entryPoints.<name>.transport.lifeCycle."
        "graceTimeOut); keep a ping under the shortest idle timeout on the path",
    )


STICKY = "traefik.ingress.kubernetes.io/service.sticky.cookie"


def sticky_sessions(ctx: Context) -> Iterator[Finding]:
    """Traefik reads sticky sessions from the backend Service's annotations
    (pkg/provider/kubernetes/ingress/kubernetes.go:618, annotations.go:50@fd5a576df2)."""
    for service, paths, service_annotations in long_polling_services(ctx):
        if service_annotations is None or service_annotations.get(STICKY, "").lower() == "true":
            continue
        yield ctx.finding(
            "sticky-sessions",
            Severity.WARNING,
            affinity_message(paths, service, STICKY),
            f'set {STICKY}: "true" on Service {service}',
            (set_annotation(STICKY, "true", "Service", service),),
        )


def limits(ctx: Context) -> Iterable[Limit]:
    setting = "none on an upgraded connection (respondingTimeouts cleared on hijack)"
    return [
        Limit("idle", None, Hop.CONTROLLER, setting),
        Limit("lifetime", None, Hop.CONTROLLER, setting),
    ]


def tls_terminated(ctx: Context) -> str | None:
    resolver = ctx.annotations.get(f"{ROUTER_TLS}.certresolver")
    if resolver:
        return f"Traefik router TLS with cert resolver {resolver} ({ROUTER_TLS}.certresolver)"
    if ctx.annotations.get(ROUTER_TLS, "").strip().lower() == "true":
        return f'Traefik router TLS ({ROUTER_TLS}: "true", default or store certificate)'
    others = sorted(k for k in ctx.annotations if k.startswith(f"{ROUTER_TLS}."))
    if others:
        return f"Traefik router TLS ({', '.join(others)})"
    return None


# pkg/provider/kubernetes/ingress/annotations.go: router.* and service.* keys (lowercase,
# as label.Decode matches them case-insensitively).
ANNOTATION_NAMES = frozenset(
    [
        "router.pathmatcher",
        "router.entrypoints",
        "router.middlewares",
        "router.priority",
        "router.rulesyntax",
        "router.tls",
        "router.tls.certresolver",
        "router.tls.options",
        "router.observability.accesslogs",
        "router.observability.metrics",
        "router.observability.tracing",
        "service.serversscheme",
        "service.serverstransport",
        "service.passhostheader",
        "service.middlewares",
        "service.sticky.cookie",
        "service.sticky.cookie.name",
        "service.sticky.cookie.secure",
        "service.sticky.cookie.httponly",
        "service.sticky.cookie.samesite",
        "service.sticky.cookie.maxage",
        "service.nativelb",
        "service.nodeportlb",
    ]
)

CONTROLLER = Controller(
    id="traefik",
    title="Traefik",
    docs="https://doc.traefik.io/traefik/routing/entrypoints/#respondingtimeouts",
    ingress_class_controllers=("traefik.io/ingress-controller",),
    class_names=("traefik",),
    annotation_prefixes=(PREFIX,),
    rules=(entrypoint_timeouts, sticky_sessions),
    limits=limits,
    tls_terminated=tls_terminated,
    annotation_names=ANNOTATION_NAMES,
)

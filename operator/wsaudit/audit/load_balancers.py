"""The cloud load balancer in front of an ingress controller: a Service of type LoadBalancer
(the controller's own Service), read from its annotations. Its idle timeout cuts quiet
WebSockets before the controller's timeouts matter.

- AWS Classic ELB (the in-tree default): 60 s idle unless
  `service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout` (1-4000 s).
- AWS NLB: TCP idle timeout 350 s; the AWS Load Balancer Controller sets it per listener with
  `service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-<port>:
  tcp.idle_timeout.seconds=N` (60-6000 s).
- Azure Load Balancer: 4 min idle unless
  `service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout` (minutes, 4-100).

The audit adds this hop (`load_balancer_limits`, `load_balancer_idle_timeout`) for every
controller that runs in the cluster behind such a Service; the cloud L7 controllers (ALB,
GKE, AGIC: `Controller.is_load_balancer`) are their own load balancer.

Also here: which WebSocket paths belong to a library with an HTTP long-polling fallback
(Socket.IO, SockJS, SignalR), whose requests must reach the same pod (affinity).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .controller import Context
from .durations import human
from .model import Change, Finding, Hop, IngressView, Limit, Severity, set_annotation

AWS = "service.beta.kubernetes.io/aws-load-balancer-"
AWS_TYPE = f"{AWS}type"
AWS_NLB_TARGET_TYPE = f"{AWS}nlb-target-type"
ELB_IDLE = f"{AWS}connection-idle-timeout"
NLB_LISTENER_ATTRIBUTES = f"{AWS}listener-attributes.TCP-"
NLB_IDLE_KEY = "tcp.idle_timeout.seconds"
AZURE = "service.beta.kubernetes.io/azure-"
AZURE_IDLE = f"{AZURE}load-balancer-tcp-idle-timeout"

ELB_DEFAULT, ELB_MAX = 60.0, 4000.0
NLB_DEFAULT, NLB_MAX = 350.0, 6000.0
AZURE_DEFAULT_MINUTES, AZURE_MAX_MINUTES = 4, 100


@dataclass(frozen=True)
class LoadBalancer:
    """One cloud load balancer in front, as its Service's annotations configure it."""

    service: str  # namespace/name
    name: str
    kind: str  # "AWS Classic ELB", "AWS NLB", "Azure Load Balancer"
    seconds: float
    setting: str
    wanted: float
    changes: tuple[Change, ...]
    note: str = ""


def _annotations(service: Mapping[str, Any]) -> dict[str, str]:
    metadata = service.get("metadata")
    raw = metadata.get("annotations") if isinstance(metadata, dict) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _name(service: Mapping[str, Any]) -> tuple[str, str]:
    metadata = service.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")


def _tcp_ports(service: Mapping[str, Any]) -> list[int]:
    spec = service.get("spec")
    ports = spec.get("ports") if isinstance(spec, dict) else None
    found = []
    for port in ports if isinstance(ports, list) else []:
        if isinstance(port, dict) and str(port.get("protocol", "TCP")).upper() == "TCP":
            number = port.get("port")
            if isinstance(number, int) and not isinstance(number, bool):
                found.append(number)
    return sorted(set(found)) or [443]


def _int(raw: str | None) -> int | None:
    try:
        return int(str(raw).strip()) if raw is not None else None
    except ValueError:
        return None


def _attributes(raw: str) -> dict[str, str]:
    pairs = (pair.partition("=") for pair in raw.split(","))
    return {key.strip(): value.strip() for key, sep, value in pairs if sep}


def _aws(service: Mapping[str, Any], name: str, wanted: float) -> LoadBalancer:
    annotations = _annotations(service)
    lb_type = annotations.get(AWS_TYPE, "").strip().lower()
    if lb_type in ("nlb", "external") or AWS_NLB_TARGET_TYPE in annotations:
        target = min(wanted, NLB_MAX)
        changes: list[Change] = []
        note = ""
        if lb_type == "nlb":
            # The in-tree cloud provider cannot set listener attributes; the AWS Load
            # Balancer Controller can (type "external"), which replaces the NLB.
            note = (
                f" ({AWS_TYPE}: nlb is the in-tree provider, which cannot change it: the fix "
                "hands the Service to the AWS Load Balancer Controller, which creates a new NLB "
                "with a new DNS name)"
            )
            changes.append(set_annotation(AWS_TYPE, "external", "Service", name))
            if AWS_NLB_TARGET_TYPE not in annotations:
                changes.append(set_annotation(AWS_NLB_TARGET_TYPE, "instance", "Service", name))
        seconds = NLB_DEFAULT
        settings: list[str] = []
        for port in _tcp_ports(service):
            key = f"{NLB_LISTENER_ATTRIBUTES}{port}"
            attributes = _attributes(annotations.get(key, ""))
            value = _int(attributes.get(NLB_IDLE_KEY))
            port_seconds = float(value) if value is not None and lb_type != "nlb" else NLB_DEFAULT
            seconds = min(seconds, port_seconds) if settings else port_seconds
            settings.append(key)
            attributes[NLB_IDLE_KEY] = str(int(target))
            changes.append(
                set_annotation(
                    key, ",".join(f"{k}={v}" for k, v in attributes.items()), "Service", name
                )
            )
        setting = f"{NLB_IDLE_KEY} in {', '.join(settings)} ({human(NLB_DEFAULT)} default)"
        return LoadBalancer("", name, "AWS NLB", seconds, setting, target, tuple(changes), note)
    target = min(wanted, ELB_MAX)
    value = _int(annotations.get(ELB_IDLE))
    return LoadBalancer(
        "",
        name,
        "AWS Classic ELB",
        float(value) if value is not None and 1 <= value <= ELB_MAX else ELB_DEFAULT,
        f"{ELB_IDLE} ({human(ELB_DEFAULT)} default)",
        target,
        (set_annotation(ELB_IDLE, str(int(target)), "Service", name),),
    )


def _azure(service: Mapping[str, Any], name: str, wanted: float) -> LoadBalancer:
    annotations = _annotations(service)
    minutes = _int(annotations.get(AZURE_IDLE))
    if minutes is None or not AZURE_DEFAULT_MINUTES <= minutes <= AZURE_MAX_MINUTES:
        minutes = AZURE_DEFAULT_MINUTES
    target = min(math.ceil(wanted / 60), AZURE_MAX_MINUTES)
    return LoadBalancer(
        "",
        name,
        "Azure Load Balancer",
        minutes * 60.0,
        f"{AZURE_IDLE} in minutes ({AZURE_DEFAULT_MINUTES} min default)",
        target * 60.0,
        (set_annotation(AZURE_IDLE, str(target), "Service", name),),
    )


# The names each in-cluster controller's chart gives its Service (the app.kubernetes.io/name
# or app label and selector, and the Service name): ingress-nginx's chart
# "ingress-nginx-controller", F5 NGINX's "nginx-ingress", Kong's "kong-proxy", Traefik's
# "traefik", HAProxy Ingress's "haproxy-ingress", HAProxy Technologies' "kubernetes-ingress",
# Contour's "envoy".
_FRONTED = {
    "ingress-nginx": ("ingress-nginx",),
    "nginx-inc": ("nginx-ingress",),
    "kong": ("kong",),
    "traefik": ("traefik",),
    "haproxy-ingress": ("haproxy-ingress",),
    "haproxy-tech": ("kubernetes-ingress", "haproxy-kubernetes-ingress"),
    "contour": ("envoy", "contour"),
}


def _fronts(controller_id: str, service: Mapping[str, Any]) -> bool:
    """Whether this LoadBalancer Service is the one in front of that controller."""
    names = _FRONTED.get(controller_id, ())
    metadata, spec = service.get("metadata"), service.get("spec")
    metadata = metadata if isinstance(metadata, dict) else {}
    spec = spec if isinstance(spec, dict) else {}
    values = [str(metadata.get("name") or "")]
    for labels in (metadata.get("labels"), spec.get("selector")):
        if isinstance(labels, dict):
            values += [str(labels.get(k) or "") for k in ("app.kubernetes.io/name", "app")]
    return any(name in value for value in values if value for name in names)


def load_balancers(ctx: Context) -> list[LoadBalancer]:
    """The cloud load balancers in front of this Ingress's controller that wsaudit can
    identify: Services of type LoadBalancer given in the input whose labels, selector or
    name are the controller's, with AWS or Azure annotations. Others are not judged."""
    wanted = ctx.settings.min_timeout_seconds
    found = []
    for service in ctx.related.load_balancer_services():
        namespace, name = _name(service)
        if not _fronts(ctx.controller_id, service):
            continue
        annotations = _annotations(service)
        if any(key.startswith(AWS) for key in annotations):
            lb = _aws(service, name, wanted)
        elif any(key.startswith(AZURE) for key in annotations):
            lb = _azure(service, name, wanted)
        else:
            continue
        changes = tuple(replace(change, namespace=namespace) for change in lb.changes)
        found.append(replace(lb, service=f"{namespace}/{name}", changes=changes))
    return found


def load_balancer_limits(ctx: Context) -> list[Limit]:
    """The idle limit of each identified cloud load balancer in front."""
    return [
        Limit("idle", lb.seconds, Hop.LOAD_BALANCER, f"{lb.kind} {lb.service}: {lb.setting}")
        for lb in load_balancers(ctx)
    ]


def load_balancer_idle_timeout(ctx: Context) -> Iterator[Finding]:
    """`<controller>.load-balancer-idle-timeout`: the load balancer in front closes idle
    WebSockets before the wanted minimum; the changes go on its Service."""
    for lb in load_balancers(ctx):
        if lb.seconds >= lb.wanted:
            continue
        yield ctx.finding(
            "load-balancer-idle-timeout",
            Severity.WARNING,
            f"the {lb.kind} of Service {lb.service} closes connections idle for "
            f"{human(lb.seconds)} ({lb.setting}), before the controller's own timeouts: "
            f"quiet WebSockets are cut there{lb.note}",
            "on Service "
            + lb.service
            + ": "
            + ", ".join(f"{c.path[-1]}: {c.value!r}" for c in lb.changes),
            lb.changes,
        )


# Libraries whose clients fall back to HTTP long-polling (several requests that must reach
# the pod holding the session) and whose paths say so.
_FALLBACK_HINTS = ("socket.io", "sockjs", "signalr")


def long_polling_paths(ingress: IngressView) -> list[str]:
    """WebSocket paths that look like Socket.IO, SockJS or SignalR (whose polling fallback
    and negotiate requests need affinity to one pod)."""
    paths = []
    for backend in ingress.websocket_backends():
        segments = [s for s in backend.path.lower().split("/") if s]
        if any(h in s for s in segments for h in _FALLBACK_HINTS) or any(
            s in ("hub", "hubs") or s.endswith("hub") for s in segments
        ):
            paths.append(backend.path)
    return sorted(set(paths))


def long_polling_services(ctx: Context) -> list[tuple[str, list[str], dict[str, str] | None]]:
    """The Services behind the long-polling-capable paths, with those paths and the
    Service's annotations (None: the Service is not visible, so nothing can be judged)."""
    paths = set(long_polling_paths(ctx.ingress))
    by_service: dict[str, list[str]] = {}
    for backend in ctx.ingress.websocket_backends():
        if backend.service and backend.path in paths:
            by_service.setdefault(backend.service, []).append(backend.path)
    return [
        (name, sorted(set(found)), ctx.related.service_annotations(ctx.ingress.namespace, name))
        for name, found in sorted(by_service.items())
    ]


def affinity_message(paths: list[str], service: str, missing: str) -> str:
    return (
        f"{', '.join(paths)} looks like Socket.IO/SockJS/SignalR, whose long-polling fallback "
        "and handshake must reach the pod holding the session, and Service "
        f"{service} has no {missing}: with more than one pod, sessions break"
    )

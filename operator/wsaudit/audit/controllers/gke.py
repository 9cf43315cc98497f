"""GKE Ingress (ingress-gce: the external, internal or regional external Application Load
Balancer).

For WebSockets the BackendConfig `timeoutSec` (default 30 s) is the maximum lifetime of a
connection, not an idle timeout: a WebSocket is closed after it whether busy or not. It is
attached through the backend Service's cloud.google.com/backend-config annotation, by the
Service port's name or number or as the default (kubernetes/ingress-gce
pkg/backendconfig/utils.go BackendConfigName). ingress-gce serves an Ingress only by its
kubernetes.io/ingress.class annotation (gce, gce-internal, gce-regional-external) or when it
has no class at all (pkg/utils/utils.go IsGCEIngress): `spec.ingressClassName: gce` is served
by nobody.

Docs: https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration#timeout
and https://cloud.google.com/load-balancing/docs/https#websocket_support
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..controller import (
    Context,
    Controller,
    missing_objects,
    unseen_services,
)
from ..durations import DurationError, Format, human, parse_duration
from ..load_balancers import long_polling_paths
from ..model import (
    LEGACY_CLASS_ANNOTATION,
    Change,
    Finding,
    Hop,
    IngressView,
    Limit,
    ObjectRef,
    Related,
    Severity,
    set_annotation,
)

BACKEND_CONFIG = "cloud.google.com/backend-config"
BACKEND_CONFIG_BETA = "beta.cloud.google.com/backend-config"
FRONTEND_CONFIG = "networking.gke.io/v1beta1.FrontendConfig"
ALLOW_HTTP = "kubernetes.io/ingress.allow-http"
MANAGED_CERTIFICATES = "networking.gke.io/managed-certificates"
PRE_SHARED_CERT = "ingress.gcp.kubernetes.io/pre-shared-cert"
CLASS_NAMES = ("gce", "gce-internal", "gce-regional-external")
DEFAULT_TIMEOUT = 30


def _service_ports(service: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    spec = service.get("spec") if isinstance(service, Mapping) else None
    ports = spec.get("ports") if isinstance(spec, dict) else None
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


def _port_keys(service: Mapping[str, Any] | None, port: str | None) -> list[str]:
    """The keys GKE looks up in {"ports": ...} for the Ingress backend's port: the Service
    port's name, then its number (the Ingress may name either)."""
    if port is None:
        return []
    for entry in _service_ports(service):
        name, number = entry.get("name"), entry.get("port")
        if port in (str(name), str(number)):
            return [str(k) for k in (name, number) if k is not None and str(k)]
    return [port]


def _parsed(annotations: Mapping[str, str]) -> dict[str, Any] | None:
    raw = annotations.get(BACKEND_CONFIG) or annotations.get(BACKEND_CONFIG_BETA)
    if not raw:
        return None
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _backend_config_name(
    annotations: Mapping[str, str], keys: list[str] | str | None
) -> str | None:
    parsed = _parsed(annotations)
    if parsed is None:
        return None
    wanted = [keys] if isinstance(keys, str) else (keys or [])
    ports = parsed.get("ports")
    if isinstance(ports, dict):
        for key in wanted:
            if isinstance(ports.get(key), str) and ports[key]:
                return str(ports[key])
    default = parsed.get("default")
    return default if isinstance(default, str) and default else None


@dataclass(frozen=True)
class Attachment:
    """The BackendConfig of one WebSocket backend (Service and port)."""

    service: str
    port: str | None
    annotations: dict[str, str] | None  # None: Service not visible
    config_name: str | None
    config: Mapping[str, Any] | None


def attachments(ingress: IngressView, related: Related) -> list[Attachment]:
    found: dict[tuple[str, str | None], Attachment] = {}
    for backend in ingress.websocket_backends():
        if not backend.service or (backend.service, backend.port) in found:
            continue
        service = related.services.get((ingress.namespace, backend.service))
        annotations = related.service_annotations(ingress.namespace, backend.service)
        name = (
            _backend_config_name(annotations, _port_keys(service, backend.port))
            if annotations is not None
            else None
        )
        config = related.backend_configs.get((ingress.namespace, name)) if name else None
        found[(backend.service, backend.port)] = Attachment(
            backend.service, backend.port, annotations, name, config
        )
    return sorted(found.values(), key=lambda a: (a.service, a.port or ""))


def needed_objects(ingress: IngressView, related: Related) -> list[ObjectRef]:
    """Unknown Services of the WebSocket paths, then the BackendConfigs they name."""
    wanted = unseen_services(ingress, related)
    for attachment in attachments(ingress, related):
        name = attachment.config_name
        if name and attachment.config is None:
            wanted.append(ObjectRef("BackendConfig", ingress.namespace, name))
    return sorted(set(wanted), key=lambda ref: (ref.kind, ref.name))


def _spec(config: Mapping[str, Any] | None) -> dict[str, Any]:
    spec = config.get("spec") if isinstance(config, Mapping) else None
    return spec if isinstance(spec, dict) else {}


def _timeout(config: Mapping[str, Any] | None) -> float:
    raw = _spec(config).get("timeoutSec")
    try:
        return DEFAULT_TIMEOUT if raw is None else parse_duration(raw, Format.SECONDS)
    except DurationError:
        return DEFAULT_TIMEOUT


def _attach_changes(attachment: Attachment, config_name: str) -> list[Change]:
    """Attach `config_name` as the Service's default BackendConfig, keeping its port map."""
    parsed = _parsed(attachment.annotations or {}) or {}
    value = json.dumps({**parsed, "default": config_name}, sort_keys=True)
    changes = [set_annotation(BACKEND_CONFIG, value, "Service", attachment.service)]
    if BACKEND_CONFIG_BETA in (attachment.annotations or {}):
        changes.append(set_annotation(BACKEND_CONFIG_BETA, None, "Service", attachment.service))
    return changes


def backend_timeout(ctx: Context) -> Iterator[Finding]:
    wanted = int(ctx.settings.min_timeout_seconds)
    unseen: list[str] = []
    for attachment in attachments(ctx.ingress, ctx.related):
        service = attachment.service
        if attachment.annotations is None:
            unseen.append(service)
            continue
        if attachment.config_name is None:
            new = f"{service}-websocket"
            changes = [
                *_attach_changes(attachment, new),
                Change("BackendConfig", new, ("spec", "timeoutSec"), wanted),
            ]
            where = (
                f"has no {BACKEND_CONFIG}"
                if _parsed(attachment.annotations) is None
                else f"has a {BACKEND_CONFIG} that names no BackendConfig for port "
                f"{attachment.port}"
            )
            yield ctx.finding(
                "backend-timeout",
                Severity.WARNING,
                f"Service {service} {where}, so the backend timeout is the default "
                f"{DEFAULT_TIMEOUT} s: for WebSockets this is the maximum connection lifetime, "
                f"so GKE closes every WebSocket after {DEFAULT_TIMEOUT} s, busy or not",
                f"create BackendConfig {new} with spec.timeoutSec: {wanted} and attach it with "
                f'{BACKEND_CONFIG}: \'{{"default": "{new}"}}\' on Service {service}',
                changes,
            )
            continue
        if attachment.config is None:
            unseen.append(f"BackendConfig {attachment.config_name}")
            continue
        seconds = _timeout(attachment.config)
        if seconds < wanted:
            yield ctx.finding(
                "backend-timeout",
                Severity.WARNING,
                f"BackendConfig {attachment.config_name} (Service {service}) has timeoutSec "
                f"{human(seconds)}: for WebSockets this is the maximum connection lifetime, "
                f"so GKE closes them after {human(seconds)} even when busy",
                f"set spec.timeoutSec: {wanted} in BackendConfig {attachment.config_name}",
                (Change("BackendConfig", attachment.config_name, ("spec", "timeoutSec"), wanted),),
            )
    if unseen:
        yield ctx.finding(
            "backend-timeout-unknown",
            Severity.INFO,
            missing_objects(
                "the timeout of", unseen, "GKE reads it from the Service's BackendConfig"
            ),
            "run wsaudit lint with the Services and BackendConfigs too, or let the operator "
            "read them",
        )


def backend_config_on_ingress(ctx: Context) -> Iterator[Finding]:
    """The classic mistake: cloud.google.com/backend-config on the Ingress, where GKE never
    reads it (it reads Services only)."""
    for key in (BACKEND_CONFIG, BACKEND_CONFIG_BETA):
        value = ctx.annotations.get(key)
        if value is None:
            continue
        changes = [set_annotation(key, None)]
        services = sorted({a.service for a in attachments(ctx.ingress, ctx.related)})
        for service in services:
            annotations = ctx.related.service_annotations(ctx.ingress.namespace, service) or {}
            if BACKEND_CONFIG not in annotations and BACKEND_CONFIG_BETA not in annotations:
                changes.append(set_annotation(BACKEND_CONFIG, value, "Service", service))
        yield ctx.finding(
            "backend-config-on-ingress",
            Severity.WARNING,
            f"{key} is on the Ingress, where GKE never reads it: BackendConfigs attach through "
            "the backend Service's annotation, so its timeoutSec (and every other setting) "
            f"does not apply and WebSockets are closed after the default {DEFAULT_TIMEOUT} s",
            f"move {key}: '{value}' to Service {', '.join(services) or 'of each backend'}",
            changes,
        )


def ingress_class_name(ctx: Context) -> Iterator[Finding]:
    """ingress-gce reads only the kubernetes.io/ingress.class annotation; with
    spec.ingressClassName set (to anything) and no annotation, nobody serves the Ingress."""
    class_name = ctx.ingress.class_name
    annotation = ctx.annotations.get(LEGACY_CLASS_ANNOTATION)
    if class_name is None or annotation is not None:
        return  # the annotation decides (and the API rejects both set)
    value = class_name if class_name in CLASS_NAMES else "gce"
    yield ctx.finding(
        "ingress-class-name",
        Severity.ERROR,
        f"spec.ingressClassName is {class_name!r}, but GKE Ingress selects Ingresses by the "
        f"{LEGACY_CLASS_ANNOTATION} annotation only (gce, gce-internal, gce-regional-external) "
        "or serves those with no class at all: no controller serves this Ingress and it gets "
        "no load balancer",
        f'remove spec.ingressClassName and set {LEGACY_CLASS_ANNOTATION}: "{value}"',
        (
            Change("Ingress", "", ("spec", "ingressClassName"), None),
            set_annotation(LEGACY_CLASS_ANNOTATION, value),
        ),
    )


def _allow_http(ctx: Context) -> bool:
    raw = ctx.annotations.get(ALLOW_HTTP)
    # strconv.ParseBool; anything else keeps the default (true).
    return raw is None or raw.strip() not in ("false", "0", "f", "F", "FALSE", "False")


def https_redirect(ctx: Context) -> Iterator[Finding]:
    if not _allow_http(ctx) or ctx.annotations.get(FRONTEND_CONFIG):
        return
    name = f"{ctx.ingress.name}-redirect"
    yield ctx.finding(
        "https-redirect",
        Severity.WARNING,
        f'the load balancer serves http too ({ALLOW_HTTP} is not "false") and no '
        f"{FRONTEND_CONFIG} redirects it: pages stay reachable over plain http, where browsers "
        "open ws:// or block wss:// as mixed content",
        f"create FrontendConfig {name} with spec.redirectToHttps.enabled: true and set "
        f'{FRONTEND_CONFIG}: "{name}" (or {ALLOW_HTTP}: "false" to serve https only)',
        (
            Change("FrontendConfig", name, ("spec", "redirectToHttps", "enabled"), True),
            set_annotation(FRONTEND_CONFIG, name),
        ),
    )


def session_affinity(ctx: Context) -> Iterator[Finding]:
    paths = long_polling_paths(ctx.ingress)
    if not paths:
        return
    for attachment in attachments(ctx.ingress, ctx.related):
        if attachment.config is None:
            continue  # backend-timeout proposes the BackendConfig; checked once it exists
        affinity = _spec(attachment.config).get("sessionAffinity")
        kind = affinity.get("affinityType") if isinstance(affinity, dict) else None
        if kind in ("GENERATED_COOKIE", "CLIENT_IP"):
            continue
        yield ctx.finding(
            "session-affinity",
            Severity.WARNING,
            f"path {', '.join(paths)} looks like Socket.IO, SockJS or SignalR, whose HTTP "
            "long-polling fallback and handshake requests must reach the same pod, but "
            f"BackendConfig {attachment.config_name} has no spec.sessionAffinity",
            f"set spec.sessionAffinity.affinityType: GENERATED_COOKIE in BackendConfig "
            f"{attachment.config_name}",
            (
                Change(
                    "BackendConfig",
                    attachment.config_name or "",
                    ("spec", "sessionAffinity", "affinityType"),
                    "GENERATED_COOKIE",
                ),
            ),
        )


def health_check(ctx: Context) -> Iterator[Finding]:
    """GKE's default health check is GET / (unless the pod's readinessProbe says otherwise):
    a WebSocket-only server at / answers 400 and the backend is marked unhealthy."""
    at_root = sorted(
        {b.service for b in ctx.ingress.websocket_backends() if b.service and b.path in ("/", "/*")}
    )
    for attachment in attachments(ctx.ingress, ctx.related):
        if attachment.service not in at_root or attachment.config is None:
            continue
        check = _spec(attachment.config).get("healthCheck")
        if isinstance(check, dict) and check.get("requestPath"):
            continue
        yield ctx.finding(
            "health-check",
            Severity.INFO,
            f"Service {attachment.service} serves WebSockets at /, which GKE's default health "
            "check requests with a plain GET (unless the pod has an HTTP readinessProbe): a "
            "WebSocket-only server answers 400, the backend turns unhealthy and clients get 502",
            f"set spec.healthCheck.requestPath in BackendConfig {attachment.config_name} to a "
            "path that answers 200 (e.g. /healthz), or give the pod an HTTP readinessProbe",
            (
                Change(
                    "BackendConfig",
                    attachment.config_name or "",
                    ("spec", "healthCheck", "requestPath"),
                    "/healthz",
                ),
            ),
        )


def tls_terminated(ctx: Context) -> str | None:
    for key in (MANAGED_CERTIFICATES, PRE_SHARED_CERT):
        if ctx.annotations.get(key):
            return f"the load balancer, with {key}: {ctx.annotations[key]}"
    return None


def limits(ctx: Context) -> Iterable[Limit]:
    found = []
    for attachment in attachments(ctx.ingress, ctx.related):
        if attachment.annotations is None or (attachment.config_name and not attachment.config):
            continue  # not visible
        seconds = _timeout(attachment.config) if attachment.config else DEFAULT_TIMEOUT
        where = (
            f"BackendConfig {attachment.config_name} spec.timeoutSec"
            if attachment.config_name
            else f"no BackendConfig on Service {attachment.service}"
        )
        found.append(
            Limit("lifetime", seconds, Hop.LOAD_BALANCER, f"{where} ({DEFAULT_TIMEOUT} s default)")
        )
    return found


CONTROLLER = Controller(
    id="gke",
    title="GKE Ingress (GCE load balancer)",
    docs="https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration",
    ingress_class_controllers=(),
    class_names=CLASS_NAMES,
    needs=needed_objects,
    annotation_prefixes=("ingress.gcp.kubernetes.io/", "networking.gke.io/"),
    rules=(
        ingress_class_name,
        backend_timeout,
        backend_config_on_ingress,
        https_redirect,
        session_affinity,
        health_check,
    ),
    tls_annotations=(PRE_SHARED_CERT, MANAGED_CERTIFICATES),
    limits=limits,
    tls_terminated=tls_terminated,
    annotation_names=frozenset(
        {"pre-shared-cert", "managed-certificates", "v1beta1.FrontendConfig"}
    ),
    is_load_balancer=True,
)

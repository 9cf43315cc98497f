"""GKE Ingress (the GCE external/internal Application Load Balancer).

For WebSockets the BackendConfig `timeoutSec` (default 30 s) is the maximum lifetime of a
connection, not an idle timeout: a WebSocket is closed after it whether busy or not. It is
attached through the backend Service's cloud.google.com/backend-config annotation.
Docs: https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration#timeout
and https://cloud.google.com/load-balancing/docs/https#websocket_support
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..controller import (
    Context,
    Controller,
    missing_objects,
    redirect_required_rule,
    services_of_websocket_paths,
    unseen_services,
)
from ..durations import DurationError, Format, human, parse_duration
from ..model import Finding, IngressView, ObjectRef, Related, Severity

BACKEND_CONFIG = "cloud.google.com/backend-config"
BACKEND_CONFIG_BETA = "beta.cloud.google.com/backend-config"
DEFAULT_TIMEOUT = 30


def _backend_config_name(annotations: dict[str, str], port: str | None) -> str | None:
    raw = annotations.get(BACKEND_CONFIG) or annotations.get(BACKEND_CONFIG_BETA)
    if not raw:
        return None
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    ports = parsed.get("ports")
    if isinstance(ports, dict) and port is not None and isinstance(ports.get(port), str):
        return str(ports[port])
    default = parsed.get("default")
    return default if isinstance(default, str) else None


def needed_objects(ingress: IngressView, related: Related) -> list[ObjectRef]:
    """Unknown Services of the WebSocket paths, then the BackendConfigs they name."""
    wanted = unseen_services(ingress, related)
    for backend in ingress.websocket_backends():
        annotations = related.service_annotations(ingress.namespace, backend.service)
        name = _backend_config_name(annotations, backend.port) if annotations else None
        if name and (ingress.namespace, name) not in related.backend_configs:
            wanted.append(ObjectRef("BackendConfig", ingress.namespace, name))
    return sorted(set(wanted), key=lambda ref: (ref.kind, ref.name))


def _timeout_of(config: Any) -> object:
    spec = config.get("spec") if isinstance(config, dict) else None
    return spec.get("timeoutSec") if isinstance(spec, dict) else None


def backend_timeout(ctx: Context) -> Iterator[Finding]:
    namespace = ctx.ingress.namespace
    wanted = ctx.settings.min_timeout_seconds
    unseen: list[str] = []
    for service in services_of_websocket_paths(ctx.ingress):
        annotations = ctx.related.service_annotations(namespace, service)
        if annotations is None:
            unseen.append(service)
            continue
        port = next((b.port for b in ctx.ingress.backends if b.service == service), None)
        config_name = _backend_config_name(annotations, port)
        fix = (
            f"create a BackendConfig with spec.timeoutSec: {int(wanted)} and attach it with "
            f'{BACKEND_CONFIG}: \'{{"default": "NAME"}}\' on Service {service}'
        )
        if config_name is None:
            yield ctx.finding(
                "backend-timeout",
                Severity.WARNING,
                f"Service {service} has no {BACKEND_CONFIG}, so the backend timeout is the "
                f"default {DEFAULT_TIMEOUT} s: GKE closes every WebSocket after "
                f"{DEFAULT_TIMEOUT} s, busy or not",
                fix,
            )
            continue
        config = ctx.related.backend_configs.get((namespace, config_name))
        if config is None:
            unseen.append(f"BackendConfig {config_name}")
            continue
        raw = _timeout_of(config)
        try:
            seconds = DEFAULT_TIMEOUT if raw is None else parse_duration(raw, Format.SECONDS)
        except DurationError:
            seconds = DEFAULT_TIMEOUT
        if seconds < wanted:
            yield ctx.finding(
                "backend-timeout",
                Severity.WARNING,
                f"BackendConfig {config_name} (Service {service}) has timeoutSec "
                f"{human(seconds)}: for WebSockets this is the maximum connection lifetime, "
                f"so GKE closes them after {human(seconds)} even when busy",
                f"set spec.timeoutSec: {int(wanted)} in BackendConfig {config_name}",
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


CONTROLLER = Controller(
    id="gke",
    title="GKE Ingress (GCE load balancer)",
    docs="https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration",
    ingress_class_controllers=(),
    class_names=("gce", "gce-internal"),
    needs=needed_objects,
    annotation_prefixes=("ingress.gcp.kubernetes.io/", "networking.gke.io/"),
    rules=(
        backend_timeout,
        redirect_required_rule(
            "networking.gke.io/v1beta1.FrontendConfig",
            "NAME",
            "naming a FrontendConfig with spec.redirectToHttps.enabled: true",
        ),
    ),
    tls_annotations=(
        "ingress.gcp.kubernetes.io/pre-shared-cert",
        "networking.gke.io/managed-certificates",
    ),
)

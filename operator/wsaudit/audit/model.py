"""What the rules read (an Ingress and the objects beside it) and what they return."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WEBSOCKET_ANNOTATION = "wsaudit.io/websocket"
WEBSOCKET_PATHS_ANNOTATION = "wsaudit.io/websocket-paths"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_MIN_TIMEOUT = 3600.0
# Paths that usually carry WebSockets (or a long-polling fallback that needs affinity).
_WEBSOCKET_HINTS = ("ws", "websocket", "socket", "sockjs", "signalr", "cable", "hub", "live")


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"{text!r} is not one of error, warning, info") from None


@dataclass(frozen=True)
class Change:
    """One edit a fix makes, so that the fix can be applied to the manifests and audited
    again (a fix that its controller rejects, or that leaves the finding, is a bug).

    `name` "" is the audited Ingress itself; `path` leads into the object, e.g.
    ("metadata", "annotations", KEY), ("data", KEY) for a ConfigMap, ("spec", "timeoutSec");
    `value` None removes what is there; `namespace` None is the Ingress's (a controller's
    ConfigMap lives in the controller's). A missing object is created. `input`, when set,
    says that `value` is a placeholder only the user can fill (e.g. a certificate ARN):
    whoever applies the change must ask for it.
    """

    kind: str
    name: str
    path: tuple[str, ...]
    value: Any
    namespace: str | None = None
    input: str | None = None

    def to_dict(self) -> dict[str, Any]:
        change = {
            "kind": self.kind,
            "name": self.name,
            "path": list(self.path),
            "value": self.value,
        }
        if self.namespace is not None:
            change["namespace"] = self.namespace
        if self.input is not None:
            change["input"] = self.input
        return change


def set_annotation(key: str, value: str | None, kind: str = "Ingress", name: str = "") -> Change:
    return Change(kind, name, ("metadata", "annotations", key), value)


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    object: str
    message: str
    fix: str
    changes: tuple[Change, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "object": self.object,
            "message": self.message,
            "fix": self.fix,
            "changes": [change.to_dict() for change in self.changes],
        }


class Hop(enum.StrEnum):
    """Where on the path from the browser to the pod a limit is set."""

    LOAD_BALANCER = "load balancer"
    CONTROLLER = "controller"
    BACKEND = "backend"


@dataclass(frozen=True)
class Limit:
    """How long a WebSocket survives at one hop: `idle` limits cut a quiet connection (any
    traffic resets them), `lifetime` limits cut it at a fixed age whatever the traffic.
    `seconds` None means this hop sets no such limit."""

    kind: str  # "idle" or "lifetime"
    seconds: float | None
    hop: Hop
    setting: (
        str  # what sets it, e.g. "nginx.ingress.kubernetes.io/proxy-read-timeout (60 s default)"
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "seconds": self.seconds,
            "hop": self.hop.value,
            "setting": self.setting,
        }


class ManifestError(ValueError):
    """An object is not shaped like the Kubernetes kind it claims to be."""


@dataclass(frozen=True)
class Backend:
    host: str | None
    path: str
    service: str | None
    port: str | None


@dataclass(frozen=True)
class IngressView:
    """An Ingress reduced to what the rules need, read defensively from any dict."""

    namespace: str
    name: str
    annotations: Mapping[str, str]
    class_name: str | None
    backends: tuple[Backend, ...]
    tls_hosts: frozenset[str]
    tls_without_hosts: bool
    tls_entries: tuple[Mapping[str, Any], ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def hosts(self) -> list[str]:
        return sorted({b.host for b in self.backends if b.host})

    def websocket_backends(self) -> list[Backend]:
        """The paths that serve WebSockets: listed in wsaudit.io/websocket-paths, else the
        paths that look like it (/ws, /socket.io, ...), else every path."""
        listed = self.annotations.get(WEBSOCKET_PATHS_ANNOTATION)
        if listed:
            wanted = {p.strip() for p in listed.split(",") if p.strip()}
            return [b for b in self.backends if b.path in wanted]
        hinted = [b for b in self.backends if _looks_like_websocket(b.path)]
        return hinted or list(self.backends)


def _looks_like_websocket(path: str) -> bool:
    segments = path.lower().split("/")
    return any(hint in segment for segment in segments for hint in _WEBSOCKET_HINTS)


def _dict(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ManifestError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{where} must be a list, not {type(value).__name__}")
    return value


def _annotations(metadata: dict[str, Any]) -> dict[str, str]:
    raw = _dict(metadata.get("annotations"), "metadata.annotations")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def _backend(host: str | None, path: dict[str, Any], where: str) -> Backend:
    backend = _dict(path.get("backend"), f"{where}.backend")
    service = _dict(backend.get("service"), f"{where}.backend.service")
    port = _dict(service.get("port"), f"{where}.backend.service.port")
    port_value = port.get("number", port.get("name"))
    return Backend(
        host=host,
        path=str(path.get("path") or "/"),
        service=str(service["name"]) if service.get("name") else None,
        port=str(port_value) if port_value is not None else None,
    )


def ingress_view(obj: Mapping[str, Any], default_namespace: str = "default") -> IngressView:
    metadata = _dict(obj.get("metadata"), "metadata")
    spec = _dict(obj.get("spec"), "spec")
    annotations = _annotations(metadata)
    backends: list[Backend] = []
    default = spec.get("defaultBackend")
    if default is not None:
        backends.append(_backend(None, {"backend": default}, "spec.defaultBackend"))
    for i, raw_rule in enumerate(_list(spec.get("rules"), "spec.rules")):
        rule = _dict(raw_rule, f"spec.rules[{i}]")
        host = str(rule["host"]).lower() if rule.get("host") else None
        http = _dict(rule.get("http"), f"spec.rules[{i}].http")
        for j, path in enumerate(_list(http.get("paths"), f"spec.rules[{i}].http.paths")):
            where = f"spec.rules[{i}].http.paths[{j}]"
            backends.append(_backend(host, _dict(path, where), where))
    tls_hosts: set[str] = set()
    tls_without_hosts = False
    tls_entries = []
    for i, entry in enumerate(_list(spec.get("tls"), "spec.tls")):
        tls_entries.append(_dict(entry, f"spec.tls[{i}]"))
        hosts = _list(_dict(entry, f"spec.tls[{i}]").get("hosts"), f"spec.tls[{i}].hosts")
        tls_hosts.update(str(h).lower() for h in hosts)
        tls_without_hosts = tls_without_hosts or not hosts
    class_name = spec.get("ingressClassName") or annotations.get(LEGACY_CLASS_ANNOTATION)
    return IngressView(
        namespace=str(metadata.get("namespace") or default_namespace),
        name=str(metadata.get("name") or "(unnamed)"),
        annotations=annotations,
        class_name=str(class_name) if class_name else None,
        backends=tuple(backends),
        tls_hosts=frozenset(tls_hosts),
        tls_without_hosts=tls_without_hosts,
        tls_entries=tuple(tls_entries),
    )


@dataclass(frozen=True)
class ObjectRef:
    """An object beside the Ingress that a controller's rules read."""

    kind: str  # "Service", "BackendConfig" or "ConfigMap"
    namespace: str
    name: str


@dataclass(frozen=True)
class Related:
    """Objects beside the Ingress that some controllers read settings from.

    Keys are (namespace, name). Absent objects are "not visible", not "missing": the lint
    CLI only sees the files it is given.
    """

    services: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    backend_configs: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    ingress_classes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Cluster-level settings: controllers' ConfigMaps (and other configuration objects).
    config_maps: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def with_objects(self, objects: Mapping[ObjectRef, Mapping[str, Any]]) -> Related:
        """A copy that also holds `objects` (as the operator fetches them)."""
        stores: dict[str, dict[tuple[str, str], Mapping[str, Any]]] = {
            "Service": dict(self.services),
            "BackendConfig": dict(self.backend_configs),
            "ConfigMap": dict(self.config_maps),
        }
        for ref, obj in objects.items():
            stores[ref.kind][(ref.namespace, ref.name)] = obj
        return Related(
            stores["Service"], stores["BackendConfig"], self.ingress_classes, stores["ConfigMap"]
        )

    def load_balancer_services(self) -> list[Mapping[str, Any]]:
        """The Services of type LoadBalancer given (the cloud load balancer in front)."""
        return [
            service
            for service in self.services.values()
            if isinstance(service.get("spec"), dict)
            and service["spec"].get("type") == "LoadBalancer"
        ]

    def service_annotations(self, namespace: str, name: str | None) -> dict[str, str] | None:
        service = self.services.get((namespace, name or ""))
        if service is None:
            return None
        try:
            return _annotations(_dict(service.get("metadata"), "metadata"))
        except ManifestError:
            return {}


@dataclass(frozen=True)
class AuditSettings:
    min_timeout_seconds: float = DEFAULT_MIN_TIMEOUT

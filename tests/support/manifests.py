"""Manifests the tests and the demo use: a WebSocketEndpoint and Ingresses."""

from __future__ import annotations

from typing import Any

from .servers import ALLOWED

INGRESS_HOST = "chat.example.com"


def endpoint(
    name: str, url: str, *, annotations: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": url,
        "interval": "10s",
        "timeout": "5s",
        "origins": {"allowed": [ALLOWED]},
    }
    body.update(spec)
    metadata: dict[str, Any] = {"name": name}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "wsaudit.io/v1alpha1",
        "kind": "WebSocketEndpoint",
        "metadata": metadata,
        "spec": body,
    }


def ingress(
    class_name: str | None = "nginx",
    annotations: dict[str, str] | None = None,
    *,
    name: str = "chat",
    namespace: str | None = "prod",
    host: str = INGRESS_HOST,
    paths: tuple[tuple[str, str], ...] = (("/ws", "chat"),),
    tls: bool = True,
) -> dict[str, Any]:
    """An Ingress serving `paths` ((path, Service)) of `host` with Prefix paths, TLS for the
    host unless `tls` is False; `class_name` None leaves spec.ingressClassName out."""
    spec: dict[str, Any] = {
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": path,
                            "pathType": "Prefix",
                            "backend": {"service": {"name": service, "port": {"number": 80}}},
                        }
                        for path, service in paths
                    ]
                },
            }
        ]
    }
    if class_name:
        spec["ingressClassName"] = class_name
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": f"{name}-tls"}]
    metadata: dict[str, Any] = {"name": name, "annotations": annotations or {}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }


def nginx_ingress(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """An ingress-nginx Ingress with TLS, serving /ws of INGRESS_HOST, in the namespace it
    is applied to."""
    return ingress("nginx", annotations, name=name, namespace=None)

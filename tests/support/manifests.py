"""Manifests the e2e tests and the demo apply: a WebSocketEndpoint and an ingress-nginx Ingress."""

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


def nginx_ingress(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    """An ingress-nginx Ingress with TLS, serving /ws of INGRESS_HOST."""
    path = {
        "path": "/ws",
        "pathType": "Prefix",
        "backend": {"service": {"name": "chat", "port": {"number": 80}}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [INGRESS_HOST], "secretName": "chat-tls"}],
            "rules": [{"host": INGRESS_HOST, "http": {"paths": [path]}}],
        },
    }

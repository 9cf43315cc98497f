"""wsaudit's admission webhook registered in the local API server: a
ValidatingWebhookConfiguration like the chart's, pointing at a URL on loopback, and the
serving certificate and flags for `wsaudit run`."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from .cluster import Cluster
from .processes import free_port

CONFIGURATION = "wsaudit-e2e"


def webhook_configuration(url: str, ca_pem: bytes, timeout_seconds: int = 5) -> str:
    """The chart's two webhooks (without matchConditions) at `url` (no trailing slash)."""
    bundle = base64.b64encode(ca_pem).decode()
    not_system = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
        ]
    }

    def hook(name: str, path: str, group: str, version: str, resource: str) -> dict[str, object]:
        return {
            "name": name,
            "clientConfig": {"url": f"{url}/{path}", "caBundle": bundle},
            "rules": [
                {
                    "apiGroups": [group],
                    "apiVersions": [version],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [resource],
                }
            ],
            "failurePolicy": "Ignore",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": timeout_seconds,
            "namespaceSelector": not_system,
        }

    return json.dumps(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": CONFIGURATION},
            "webhooks": [
                hook(
                    "ingresses.wsaudit.io",
                    "validate-ingress",
                    "networking.k8s.io",
                    "v1",
                    "ingresses",
                ),
                hook(
                    "websocketendpoints.wsaudit.io",
                    "validate-websocketendpoint",
                    "wsaudit.io",
                    "v1alpha1",
                    "websocketendpoints",
                ),
            ],
        }
    )


@dataclass(frozen=True)
class Webhook:
    port: int  # where `wsaudit run` serves it
    cert: Path  # for 127.0.0.1, from the test CA
    key: Path

    def flags(self, port: int | None = None) -> list[str]:
        """`wsaudit run` flags serving the webhook on `port` (default: self.port)."""
        return [
            "--webhook-port",
            str(port or self.port),
            "--webhook-cert",
            str(self.cert),
            "--webhook-key",
            str(self.key),
        ]


@contextlib.contextmanager
def registered_webhook(
    cluster: Cluster, ca: trustme.CA, workdir: Path, url: str | None = None
) -> Iterator[Webhook]:
    """Registers the webhook at `url` (default: a free loopback port, served by one
    operator) and removes it afterwards."""
    port = free_port()
    cert = ca.issue_cert("127.0.0.1")
    webhook = Webhook(port, workdir / "webhook.crt", workdir / "webhook.key")
    cert.cert_chain_pems[0].write_to_path(str(webhook.cert))
    cert.private_key_pem.write_to_path(str(webhook.key))
    configuration = webhook_configuration(url or f"https://127.0.0.1:{port}", ca.cert_pem.bytes())
    cluster.kubectl("apply", "-f", "-", stdin=configuration)
    try:
        yield webhook
    finally:
        cluster.kubectl("delete", "validatingwebhookconfiguration", CONFIGURATION, check=False)

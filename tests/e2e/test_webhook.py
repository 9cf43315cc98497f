"""The admission webhook, registered in the real API server, served by `wsaudit run`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from support import manifests
from support.cluster import Cluster
from support.operator import endpoint, running_operator
from support.processes import free_port

pytestmark = pytest.mark.e2e


def websocket_ingress(name: str, http_version: str) -> str:
    return json.dumps(
        manifests.nginx_ingress(
            name,
            {
                "wsaudit.io/websocket": "true",
                "nginx.ingress.kubernetes.io/proxy-http-version": http_version,
            },
        )
    )


def webhook_configuration(port: int, ca_pem: bytes) -> str:
    bundle = base64.b64encode(ca_pem).decode()
    not_system = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
        ]
    }

    def hook(name: str, path: str, group: str, version: str, resource: str) -> dict[str, object]:
        return {
            "name": name,
            "clientConfig": {"url": f"https://127.0.0.1:{port}/{path}", "caBundle": bundle},
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
            "timeoutSeconds": 5,
            "namespaceSelector": not_system,
        }

    return json.dumps(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "wsaudit-e2e"},
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


@pytest.fixture
def webhook(
    cluster: Cluster, crds: None, ca: trustme.CA, tmp_path: Path
) -> Iterator[tuple[int, list[str]]]:
    port = free_port()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    cluster.kubectl("apply", "-f", "-", stdin=webhook_configuration(port, ca.cert_pem.bytes()))
    flags = [
        "--webhook-port",
        str(port),
        "--webhook-cert",
        str(cert_file),
        "--webhook-key",
        str(key_file),
    ]
    yield port, flags
    cluster.kubectl("delete", "validatingwebhookconfiguration", "wsaudit-e2e", check=False)


def apply(cluster: Cluster, namespace: str, manifest: str) -> tuple[int, str]:
    done = cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=manifest, check=False)
    return done.returncode, done.stderr


def test_warn_mode_prints_findings_and_rejects_invalid_endpoints(
    cluster: Cluster, namespace: str, webhook: tuple[int, list[str]], tmp_path: Path
) -> None:
    _, flags = webhook
    with running_operator(cluster, tmp_path / "warn.log", "--webhook", "warn", *flags):
        code, stderr = apply(cluster, namespace, websocket_ingress("chat", "1.0"))
        assert code == 0
        assert "Warning: wsaudit ingress-nginx.proxy-http-version" in stderr
        assert "Warning: wsaudit ingress-nginx.proxy-read-timeout" in stderr

        origin = {"name": "Origin", "value": "https://app.example.com"}
        forged = endpoint("forged", "wss://chat.example.com/ws", headers=[origin])
        code, stderr = apply(cluster, namespace, forged)
        assert code != 0
        assert "spec.headers: Origin is set by the prober itself" in stderr


def test_deny_mode_rejects_errors_and_the_webhook_fails_open(
    cluster: Cluster, namespace: str, webhook: tuple[int, list[str]], tmp_path: Path
) -> None:
    _, flags = webhook
    with running_operator(cluster, tmp_path / "deny.log", "--webhook", "deny", *flags):
        code, stderr = apply(cluster, namespace, websocket_ingress("bad", "1.0"))
        assert code != 0
        assert "wsaudit denies this Ingress (ingress-nginx.proxy-http-version)" in stderr
        code, stderr = apply(cluster, namespace, websocket_ingress("ok", "1.1"))
        assert code == 0  # warnings only: timeouts
        assert "Warning: wsaudit ingress-nginx.proxy-read-timeout" in stderr
    code, stderr = apply(cluster, namespace, websocket_ingress("bad", "1.0"))
    assert code == 0, stderr  # operator stopped: failurePolicy Ignore lets it through

"""The admission webhook, registered in the real API server, served by `wsaudit run`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from support import manifests
from support.cluster import Cluster
from support.operator import endpoint, running_operator
from support.webhook import registered_webhook

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


@pytest.fixture
def webhook(cluster: Cluster, crds: None, ca: trustme.CA, tmp_path: Path) -> Iterator[list[str]]:
    """The `wsaudit run` flags serving the registered webhook."""
    with registered_webhook(cluster, ca, tmp_path) as registered:
        yield registered.flags()


def apply(cluster: Cluster, namespace: str, manifest: str) -> tuple[int, str]:
    done = cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=manifest, check=False)
    return done.returncode, done.stderr


def test_warn_mode_prints_findings_and_rejects_invalid_endpoints(
    cluster: Cluster, namespace: str, webhook: list[str], tmp_path: Path
) -> None:
    with running_operator(cluster, tmp_path / "warn.log", "--webhook", "warn", *webhook):
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
    cluster: Cluster, namespace: str, webhook: list[str], tmp_path: Path
) -> None:
    with running_operator(cluster, tmp_path / "deny.log", "--webhook", "deny", *webhook):
        code, stderr = apply(cluster, namespace, websocket_ingress("bad", "1.0"))
        assert code != 0
        assert "wsaudit denies this Ingress (ingress-nginx.proxy-http-version)" in stderr
        code, stderr = apply(cluster, namespace, websocket_ingress("ok", "1.1"))
        assert code == 0  # warnings only: timeouts
        assert "Warning: wsaudit ingress-nginx.proxy-read-timeout" in stderr
    code, stderr = apply(cluster, namespace, websocket_ingress("bad", "1.0"))
    assert code == 0, stderr  # operator stopped: failurePolicy Ignore lets it through

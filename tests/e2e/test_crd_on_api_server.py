"""The generated CRD on a real API server: schema, defaults, CEL, explain, printer columns."""

from __future__ import annotations

import json

import pytest

from support.cluster import Cluster

pytestmark = pytest.mark.e2e


def endpoint(name: str, **spec: object) -> str:
    body = {"url": "wss://chat.example.com/ws", "origins": {"allowed": ["https://app.example.com"]}}
    body.update(spec)
    return json.dumps(
        {
            "apiVersion": "wsaudit.io/v1alpha1",
            "kind": "WebSocketEndpoint",
            "metadata": {"name": name},
            "spec": body,
        }
    )


def test_defaults_are_applied_by_the_api_server(
    cluster: Cluster, namespace: str, crds: None
) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=endpoint("chat"))
    created = json.loads(
        cluster.kubectl("-n", namespace, "get", "wse", "chat", "-o", "json").stdout
    )
    assert created["spec"]["interval"] == "60s"
    assert created["spec"]["timeout"] == "10s"
    assert created["spec"]["tls"] == {
        "required": True,
        "minCertificateDays": 14,
        "insecureSkipVerify": False,
    }
    assert created["spec"]["origins"]["bypassChecks"] is True
    header = cluster.kubectl("-n", namespace, "get", "wse").stdout.splitlines()[0].split()
    assert header == ["NAME", "URL", "READY", "SECURE", "ORIGIN", "LAST", "PROBE", "AGE"]
    assert "wss://chat.example.com/ws" in cluster.kubectl("get", "wsaudit", "-n", namespace).stdout


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"url": "https://chat.example.com"}, "spec.url"),
        ({"interval": "1s"}, "interval must be between 10s and 24h"),
        ({"interval": "30s", "timeout": "45s"}, "timeout must be shorter than interval"),
        ({"origins": {"allowed": []}}, "spec.origins.allowed"),
        ({"origins": {"allowed": ["app.example.com"]}}, "spec.origins.allowed[0]"),
        ({"origins": {"allowed": ["https://app\u001b.example.com"]}}, "spec.origins.allowed[0]"),
        ({"headers": [{"name": "X-Team", "value": "\u00e9quipe"}]}, "spec.headers[0].value"),
        ({"headers": [{"name": "X-Team", "value": "a\u0000b"}]}, "spec.headers[0].value"),
        ({"url": "wss://chat.example.com/\u0085"}, "spec.url"),
        (
            {
                "url": "ws://chat.example.com/ws",
                "auth": {"tokenSecretRef": {"name": "t", "key": "t"}},
            },
            "auth sends a token, which must go over wss://",
        ),
        (
            {
                "tls": {"insecureSkipVerify": True},
                "auth": {"tokenSecretRef": {"name": "t", "key": "t"}},
            },
            "auth sends a token, which must go over wss://",
        ),
    ],
)
def test_invalid_resources_are_rejected_naming_the_field(
    cluster: Cluster, namespace: str, crds: None, spec: dict[str, object], words: str
) -> None:
    done = cluster.kubectl(
        "-n", namespace, "apply", "-f", "-", stdin=endpoint("bad", **spec), check=False
    )
    assert done.returncode != 0
    assert words in done.stderr


def test_kubectl_explain_teaches_the_fields(cluster: Cluster, crds: None) -> None:
    explained = cluster.kubectl("explain", "wse.spec.origins").stdout
    assert "CSWSH" in explained
    assert "requireOriginHeader" in explained

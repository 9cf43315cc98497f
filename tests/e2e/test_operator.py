"""The operator against a real API server, with real WebSocket servers on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import manifests
from support.cluster import Cluster
from support.endpoint_metrics import last_probe
from support.events import listed_events
from support.operator import BackgroundServers, OperatorProcess, condition, endpoint, wait_for
from support.servers import ALLOWED, websocket_server

pytestmark = pytest.mark.e2e


def apply(cluster: Cluster, namespace: str, manifest: str) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=manifest)


def status_of(cluster: Cluster, namespace: str, name: str, kind: str) -> tuple[str, str]:
    found = condition(cluster, namespace, name, kind)
    return (found["status"], found["reason"]) if found else ("", "")


def wait_condition(
    cluster: Cluster,
    namespace: str,
    name: str,
    kind: str,
    status: str,
    *,
    reason: str | None = None,
    timeout: float = 45,
) -> dict[str, object]:
    def reached() -> dict[str, object] | None:
        found = condition(cluster, namespace, name, kind)
        if found and found["status"] == status and (reason is None or found["reason"] == reason):
            return found
        return None

    result: dict[str, object] = wait_for(reached, timeout)
    return result


def events(cluster: Cluster, namespace: str, name: str, reason: str) -> int:
    listed = listed_events(cluster, namespace, f"involvedObject.name={name},reason={reason}")
    return sum(int(e.get("count") or 1) for e in listed)


def test_conditions_columns_events_and_metrics(
    cluster: Cluster, namespace: str, operator: OperatorProcess, servers: BackgroundServers
) -> None:
    strict = servers.start(websocket_server("strict"))
    open_ = servers.start(websocket_server("none"))
    apply(cluster, namespace, endpoint("strict", strict.url(), tls={"required": False}))
    apply(cluster, namespace, endpoint("open", open_.url()))
    apply(cluster, namespace, endpoint("plain", strict.url()))

    cluster.kubectl(
        "-n", namespace, "wait", "--for=condition=OriginEnforced=false", "wse/open", "--timeout=60s"
    )
    cluster.kubectl("-n", namespace, "wait", "--for=condition=Ready", "wse/strict", "--timeout=60s")
    # Each endpoint is probed by a loop of its own: wait for the plain one's first probe too.
    cluster.kubectl(
        "-n", namespace, "wait", "--for=condition=Secure=false", "wse/plain", "--timeout=60s"
    )
    assert status_of(cluster, namespace, "plain", "Secure") == ("False", "InsecureScheme")
    assert status_of(cluster, namespace, "open", "Ready") == ("False", "UntrustedOriginAccepted")

    rows = {
        line.split()[0]: line.split()
        for line in cluster.kubectl("-n", namespace, "get", "wse").stdout.splitlines()[1:]
    }
    assert rows["strict"][1:5] == [strict.url(), "True", "False", "True"]
    assert rows["open"][1:5] == [open_.url(), "False", "False", "False"]

    metrics = operator.metrics()
    assert f'wsaudit_endpoint_origin_enforced{{name="open",namespace="{namespace}"}} 0.0' in metrics
    assert (
        f'wsaudit_endpoint_origin_enforced{{name="strict",namespace="{namespace}"}} 1.0' in metrics
    )
    assert f'wsaudit_endpoint_up{{name="open",namespace="{namespace}"}} 1.0' in metrics

    # The second probe finds the same: no second Event (and no status write).
    first_probe = last_probe(operator, namespace, "open")
    wait_for(lambda: last_probe(operator, namespace, "open") != first_probe, timeout=40)
    assert events(cluster, namespace, "open", "UntrustedOriginAccepted") == 2  # Ready + Origin
    assert events(cluster, namespace, "strict", "AllChecksPassed") == 1

    cluster.kubectl("-n", namespace, "delete", "wse", "open", "--timeout=30s")
    wait_for(lambda: f'name="open",namespace="{namespace}"' not in operator.metrics(), 20)


def test_spec_edit_and_a_fixed_server_flip_the_conditions(
    cluster: Cluster, namespace: str, operator: OperatorProcess, servers: BackgroundServers
) -> None:
    policy = {"open": True}
    server = servers.start(websocket_server(lambda o: policy["open"] or o == ALLOWED))
    apply(cluster, namespace, endpoint("chat", server.url(), tls={"required": False}))
    wait_condition(cluster, namespace, "chat", "OriginEnforced", "False")

    policy["open"] = False  # the fix is deployed: the next probe sees it
    wait_condition(cluster, namespace, "chat", "OriginEnforced", "True")
    wait_condition(cluster, namespace, "chat", "Ready", "True")

    patch = json.dumps({"spec": {"origins": {"allowed": ["https://new.example.com"]}}})
    cluster.kubectl("-n", namespace, "patch", "wse", "chat", "--type=merge", "-p", patch)
    found = wait_condition(
        cluster, namespace, "chat", "Reachable", "False", reason="UpgradeRejected", timeout=15
    )
    assert "https://new.example.com" in str(found["message"])


def nginx_ingress(read_timeout: str) -> str:
    return json.dumps(
        manifests.nginx_ingress(
            "chat",
            {
                "nginx.ingress.kubernetes.io/proxy-read-timeout": read_timeout,
                "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
            },
        )
    )


def test_ingress_findings_become_ingress_configured_and_follow_a_fix(
    cluster: Cluster, namespace: str, operator: OperatorProcess, servers: BackgroundServers
) -> None:
    server = servers.start(websocket_server("strict"))
    apply(cluster, namespace, nginx_ingress("60"))
    apply(
        cluster,
        namespace,
        endpoint("chat", server.url(), tls={"required": False}, ingressRef={"name": "chat"}),
    )
    found = wait_condition(cluster, namespace, "chat", "IngressConfigured", "False")
    assert "ingress-nginx.proxy-read-timeout" in str(found["message"])
    assert status_of(cluster, namespace, "chat", "Ready")[0] == "False"
    wait_for(lambda: events(cluster, namespace, "chat", "WebSocketMisconfigured") >= 1, 20)
    findings = f'ingress="chat",namespace="{namespace}",rule="ingress-nginx.proxy-read-timeout"'
    assert findings in operator.metrics()

    apply(cluster, namespace, nginx_ingress("3600"))
    wait_condition(cluster, namespace, "chat", "IngressConfigured", "True", timeout=15)
    wait_condition(cluster, namespace, "chat", "Ready", "True", timeout=15)

    # The Ingress is not annotated: its findings were exported only because the endpoint
    # referred to it, and go with the last reference.
    apply(cluster, namespace, nginx_ingress("60"))
    wait_for(lambda: findings in operator.metrics(), 20)
    cluster.kubectl("-n", namespace, "delete", "wse", "chat")
    wait_for(lambda: f'ingress="chat",namespace="{namespace}"' not in operator.metrics(), 20)


def test_an_ingress_serving_the_url_is_found_without_a_reference(
    cluster: Cluster, namespace: str, operator: OperatorProcess
) -> None:
    apply(cluster, namespace, nginx_ingress("60"))
    # The host does not resolve here: the probe fails, the Ingress is still audited.
    apply(cluster, namespace, endpoint("matched", "wss://chat.example.com/ws/room"))
    found = wait_condition(cluster, namespace, "matched", "IngressConfigured", "False")
    assert f"Ingress {namespace}/chat" in str(found["message"])
    assert status_of(cluster, namespace, "matched", "Reachable")[0] == "False"


def test_kong_timeouts_are_read_from_the_backend_service(
    cluster: Cluster, namespace: str, operator: OperatorProcess, servers: BackgroundServers
) -> None:
    server = servers.start(websocket_server("strict"))
    kong = manifests.nginx_ingress("chat", {"konghq.com/https-redirect-status-code": "301"})
    kong["spec"]["ingressClassName"] = "kong"
    apply(cluster, namespace, json.dumps(kong))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "chat", "annotations": {"konghq.com/read-timeout": "60000"}},
        "spec": {"ports": [{"port": 80}]},
    }
    apply(cluster, namespace, json.dumps(service))
    apply(
        cluster,
        namespace,
        endpoint("chat", server.url(), tls={"required": False}, ingressRef={"name": "chat"}),
    )
    found = wait_condition(cluster, namespace, "chat", "IngressConfigured", "False")
    assert "kong.read-timeout" in str(found["message"])
    assert "on Service chat" in str(found["message"])


def test_missing_secret_is_a_condition_and_others_keep_being_served(
    cluster: Cluster, namespace: str, operator: OperatorProcess, servers: BackgroundServers
) -> None:
    server = servers.start(websocket_server("strict"))
    auth = {
        "tokenSecretRef": {"name": "chat-token", "key": "token"},
        "allowInsecureTransport": True,
    }
    apply(cluster, namespace, endpoint("secret", server.url(), auth=auth))
    apply(cluster, namespace, endpoint("fine", server.url(), tls={"required": False}))
    forged = [{"name": "Origin", "value": "https://evil.example"}]
    apply(cluster, namespace, endpoint("forged", server.url(), headers=forged))
    found = wait_condition(cluster, namespace, "secret", "Ready", "False", reason="SecretNotFound")
    assert f"Secret {namespace}/chat-token key 'token' is not available" in str(found["message"])
    wait_condition(cluster, namespace, "fine", "Ready", "True")
    # No probe verdict is exported for an endpoint that cannot be probed; its conditions are.
    metrics = operator.metrics()
    assert f'wsaudit_endpoint_up{{name="secret",namespace="{namespace}"}}' not in metrics
    assert (
        f'wsaudit_endpoint_condition{{name="secret",namespace="{namespace}",status="False",'
        'type="Ready"} 1.0'
    ) in metrics
    assert f'wsaudit_endpoint_up{{name="fine",namespace="{namespace}"}} 1.0' in metrics
    # Without the webhook the schema lets this through; the operator refuses to probe it.
    invalid = wait_condition(cluster, namespace, "forged", "Ready", "False", reason="InvalidSpec")
    assert "spec.headers: Origin is set by the prober itself" in str(invalid["message"])

    cluster.kubectl(
        "-n", namespace, "create", "secret", "generic", "chat-token", "--from-literal=token=t0k3n"
    )
    # Only Secrets their owner opted in are read (docs/operator.md, "Secrets opt in").
    cluster.kubectl(
        "-n", namespace, "label", "secret", "chat-token", "wsaudit.io/probe-credential=true"
    )
    cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "wse",
        "secret",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"tls": {"required": False}}}),
    )
    wait_condition(cluster, namespace, "secret", "Ready", "True", timeout=20)


def test_a_non_ascii_url_is_probed_not_a_dead_probe_loop(
    cluster: Cluster, namespace: str, operator: OperatorProcess, servers: BackgroundServers
) -> None:
    """Once a UnicodeEncodeError in the handshake killed the loop and deleted its series."""
    server = servers.start(websocket_server("strict"))
    url = server.url(path="/salle-\u00e9t\u00e9?q=\u2603")
    apply(cluster, namespace, endpoint("unicode", url, tls={"required": False}))
    wait_condition(cluster, namespace, "unicode", "Ready", "True")
    assert f'wsaudit_endpoint_up{{name="unicode",namespace="{namespace}"}} 1.0' in (
        operator.metrics()
    )


def test_operator_survives_an_api_server_restart(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    servers: BackgroundServers,
    tmp_path: Path,
) -> None:
    server = servers.start(websocket_server("strict"))
    apply(cluster, namespace, endpoint("steady", server.url(), tls={"required": False}))
    wait_condition(cluster, namespace, "steady", "Ready", "True")
    before = condition(cluster, namespace, "steady", "Ready")
    cluster.script("restart-apiserver")

    seen = last_probe(operator, namespace, "steady")
    wait_for(lambda: last_probe(operator, namespace, "steady") != seen, timeout=60)
    assert operator.process.poll() is None
    assert condition(cluster, namespace, "steady", "Ready") == before  # no false transition
    apply(cluster, namespace, endpoint("after", server.url(), tls={"required": False}))
    wait_condition(cluster, namespace, "after", "Ready", "True")

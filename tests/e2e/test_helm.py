"""The chart installed into a real API server of its own; the operator run with exactly the
chart's ServiceAccount permissions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from support.cluster import Cluster
from support.operator import BackgroundServers, OperatorProcess, condition, endpoint, wait_for
from support.servers import websocket_server

pytestmark = pytest.mark.e2e
CHART = Path(__file__).resolve().parents[2] / "charts" / "wsaudit"
RELEASE_NS, APP_NS = "wsaudit", "apps"
# Every toggle a real API server can take (prometheus-operator's kinds need its CRDs).
VALUES = [
    "--set", "replicaCount=2",
    "--set", "podDisruptionBudget.enabled=true",
    "--set", "dashboard.enabled=true",
    "--set", f"rbac.secretNamespaces={{{APP_NS}}}",
]  # fmt: skip


@pytest.fixture(scope="module")
def own_cluster(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A second control plane: the session's already has the CRDs, not owned by a release."""
    own = Cluster(tmp_path_factory.mktemp("helm-cluster"), cluster.bin_dir)
    own.script("up")
    try:
        yield own
    finally:
        own.script("down")


@pytest.fixture(scope="module")
def installed(own_cluster: Cluster) -> str:
    for namespace in (RELEASE_NS, APP_NS):
        own_cluster.kubectl("create", "namespace", namespace)
        own_cluster.kubectl(
            "label",
            "namespace",
            namespace,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        )
    done = own_cluster.helm(
        "install",
        "wsaudit",
        str(CHART),
        "--namespace",
        RELEASE_NS,
        "--wait=false",
        *VALUES,
        "--set",
        "webhook.mode=warn",
    )
    return done.stdout + done.stderr


def apply_in_app_namespace(cluster: Cluster, manifest: str) -> None:
    cluster.kubectl("-n", APP_NS, "apply", "-f", "-", stdin=manifest)


def test_every_object_is_accepted_under_the_restricted_profile(
    own_cluster: Cluster, installed: str
) -> None:
    assert "STATUS: deployed" in installed
    assert "would violate PodSecurity" not in installed
    assert "WebSocketEndpoint" in installed  # NOTES.txt tells what to do next
    deployment = json.loads(
        own_cluster.kubectl("-n", RELEASE_NS, "get", "deployment", "wsaudit", "-o", "json").stdout
    )
    assert deployment["spec"]["replicas"] == 2
    own_cluster.kubectl("get", "crd", "websocketendpoints.wsaudit.io")
    own_cluster.kubectl("get", "validatingwebhookconfiguration", "wsaudit")


def test_operator_with_the_chart_service_account_completes_a_probe(
    own_cluster: Cluster, installed: str, servers: BackgroundServers, tmp_path: Path
) -> None:
    server = servers.start(websocket_server("strict"))
    as_chart = own_cluster.service_account_kubeconfig(RELEASE_NS, "wsaudit")
    own_cluster.kubectl(
        "-n", APP_NS, "create", "secret", "generic", "token", "--from-literal=token=t0k3n"
    )
    auth = {"tokenSecretRef": {"name": "token", "key": "token"}, "allowInsecureTransport": True}
    apply_in_app_namespace(
        own_cluster, endpoint("chat", server.url(), tls={"required": False}, auth=auth)
    )
    operator = OperatorProcess(
        own_cluster, tmp_path / "sa.log", "--peering", "wsaudit", kubeconfig=as_chart
    )
    try:
        wait_for(
            lambda: (condition(own_cluster, APP_NS, "chat", "Ready") or {}).get("status") == "True",
            timeout=60,
        )
        events = own_cluster.kubectl("-n", APP_NS, "get", "events").stdout
        assert "AllChecksPassed" in events
    finally:
        operator.stop()
    assert "Forbidden" not in (tmp_path / "sa.log").read_text()

    # The same probe, with one permission taken away, must not succeed.
    rules = json.loads(own_cluster.kubectl("get", "clusterrole", "wsaudit", "-o", "json").stdout)
    kept = [r for r in rules["rules"] if r["resources"] != ["websocketendpoints/status"]]
    patch = json.dumps([{"op": "replace", "path": "/rules", "value": kept}])
    own_cluster.kubectl("patch", "clusterrole", "wsaudit", "--type=json", "-p", patch)
    apply_in_app_namespace(own_cluster, endpoint("denied", server.url(), tls={"required": False}))
    operator = OperatorProcess(
        own_cluster, tmp_path / "denied.log", "--peering", "wsaudit", kubeconfig=as_chart
    )
    try:
        wait_for(lambda: "403" in (tmp_path / "denied.log").read_text(), timeout=60)
        assert condition(own_cluster, APP_NS, "denied", "Ready") is None
    finally:
        operator.stop()


def test_every_toggle_renders_objects_the_api_server_accepts(
    own_cluster: Cluster, installed: str
) -> None:
    """Server-side dry run of the full render, the helm test Pod included, under the
    restricted profile. prometheus-operator's kinds are left out: their CRDs are not here."""
    rendered = own_cluster.helm(
        "template",
        "wsaudit",
        str(CHART),
        "--namespace",
        RELEASE_NS,
        *VALUES,
        "--set",
        "webhook.mode=deny",
        "--set",
        f"watchNamespaces={{{APP_NS}}}",
    ).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    assert any(d["kind"] == "Pod" for d in documents)  # the helm test hook
    for document in documents:
        if document["apiVersion"].startswith("monitoring.coreos.com/"):
            continue
        namespace = document["metadata"].get("namespace", RELEASE_NS)
        done = own_cluster.kubectl(
            "apply",
            "--dry-run=server",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=json.dumps(document),
            check=False,
        )
        assert done.returncode == 0, f"{document['kind']}: {done.stderr}"
        assert "would violate PodSecurity" not in done.stderr, done.stderr


def test_uninstall_keeps_the_crds(own_cluster: Cluster, installed: str) -> None:
    own_cluster.helm("uninstall", "wsaudit", "--namespace", RELEASE_NS)
    own_cluster.kubectl("get", "crd", "websocketendpoints.wsaudit.io")
    assert own_cluster.kubectl("-n", APP_NS, "get", "wse", "-o", "name").stdout.strip()


def finalizers(cluster: Cluster, name: str) -> list[str] | None:
    """The endpoint's finalizers; None once it is gone."""
    done = cluster.kubectl("-n", APP_NS, "get", "wse", name, "-o", "json", check=False)
    if done.returncode != 0:
        return None
    found: list[str] = json.loads(done.stdout)["metadata"].get("finalizers", [])
    return found


def test_after_uninstall_nothing_is_stuck_on_a_finalizer(
    own_cluster: Cluster, installed: str, servers: BackgroundServers, tmp_path: Path
) -> None:
    """kopf's default finalizer on every daemon's object outlived the operator: with the
    release uninstalled (CRDs kept), deleting an endpoint or its namespace hung."""
    own_cluster.helm("uninstall", "wsaudit", "--namespace", RELEASE_NS, check=False)
    # Handled by the operator with the chart's permissions (the probe test above).
    assert finalizers(own_cluster, "chat") == []
    done = own_cluster.kubectl("-n", APP_NS, "delete", "wse", "chat", "--timeout=20s", check=False)
    assert done.returncode == 0, done.stderr
    assert finalizers(own_cluster, "chat") is None

    # An endpoint of an earlier version, stuck in deletion on kopf's marker: the operator
    # (any replica, any event) releases it.
    stuck = json.loads(endpoint("stuck", "ws://127.0.0.1:9/ws", tls={"required": False}))
    stuck["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
    apply_in_app_namespace(own_cluster, json.dumps(stuck))
    own_cluster.kubectl("-n", APP_NS, "delete", "wse", "stuck", "--wait=false")
    assert finalizers(own_cluster, "stuck") == ["kopf.zalando.org/KopfFinalizerMarker"]

    server = servers.start(websocket_server("strict"))
    apply_in_app_namespace(own_cluster, endpoint("live", server.url(), tls={"required": False}))
    operator = OperatorProcess(own_cluster, tmp_path / "operator.log")
    try:
        wait_for(lambda: finalizers(own_cluster, "stuck") is None, timeout=60)
        wait_for(
            lambda: (condition(own_cluster, APP_NS, "live", "Ready") or {}).get("status") == "True",
            timeout=60,
        )
        assert finalizers(own_cluster, "live") == []
        assert 'name="live"' in operator.metrics()
        # Deleted with the operator running: its probe loop stops (its series go) although
        # no finalizer held the object for kopf to stop it.
        own_cluster.kubectl("-n", APP_NS, "delete", "wse", "live", "--timeout=20s")
        wait_for(lambda: 'name="live"' not in operator.metrics(), timeout=30)
    finally:
        operator.stop()
    log = (tmp_path / "operator.log").read_text()
    assert "KopfFinalizerMarker" not in json.dumps(
        [finalizers(own_cluster, n) for n in ("chat", "live", "denied")]
    )
    assert "Traceback" not in log, log[-3000:]

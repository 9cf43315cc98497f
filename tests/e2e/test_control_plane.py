"""The local control plane is a real Kubernetes API server: schemas, subresources, RBAC."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from support.cluster import Cluster, pinned_versions

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_api_server_and_kubectl_report_the_pinned_release(cluster: Cluster) -> None:
    version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    expected = pinned_versions()["KUBERNETES_VERSION"]
    assert version["serverVersion"]["gitVersion"] == expected
    assert version["clientVersion"]["gitVersion"] == expected


def wait_established(cluster: Cluster, crd: str) -> None:
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s")


def test_crd_schema_printer_columns_and_status_subresource(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", str(FIXTURES / "sample-crd.yaml"))
    wait_established(cluster, "widgets.smoke.wsaudit.io")
    widget = "apiVersion: smoke.wsaudit.io/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}"
    cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=widget)

    invalid = widget.replace("size: 3", "size: 0").replace("w1", "w2")
    rejected = cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=invalid, check=False)
    assert rejected.returncode != 0
    assert "spec.size" in rejected.stderr

    status = json.dumps({"status": {"phase": "Ready"}})
    cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    )
    table = cluster.kubectl("-n", namespace, "get", "wd").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "PHASE"]
    assert table[1].split()[:3] == ["w1", "3", "Ready"]


def test_rbac_denies_until_a_role_is_bound(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("-n", namespace, "create", "serviceaccount", "reader")
    as_reader = cluster.service_account_kubeconfig(namespace, "reader")
    denied = cluster.kubectl(
        "-n", namespace, "get", "configmaps", kubeconfig=as_reader, check=False
    )
    assert denied.returncode != 0 and "forbidden" in denied.stderr
    cluster.kubectl(
        "-n", namespace, "create", "role", "read-cm", "--verb=list", "--resource=configmaps"
    )
    cluster.kubectl(
        "-n",
        namespace,
        "create",
        "rolebinding",
        "read-cm",
        "--role=read-cm",
        f"--serviceaccount={namespace}:reader",
    )
    deadline = time.monotonic() + 10  # RBAC is read from an informer: allow it to catch up
    while True:
        allowed = cluster.kubectl(
            "-n", namespace, "get", "configmaps", kubeconfig=as_reader, check=False
        )
        if allowed.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert allowed.returncode == 0, allowed.stderr


def test_helm_renders_against_the_cluster(cluster: Cluster, namespace: str) -> None:
    version = cluster.helm("version", "--short").stdout
    assert version.startswith(pinned_versions()["HELM_VERSION"])
    rendered = cluster.helm("template", "smoke", str(FIXTURES / "smoke-chart"), "--validate")
    assert "name: smoke-smoke" in rendered.stdout
    assert pinned_versions()["KUBERNETES_VERSION"] in rendered.stdout


def test_cluster_script_survives_double_start_double_stop_and_a_crash(
    tmp_path: Path, cluster: Cluster
) -> None:
    own = Cluster(tmp_path / "own", cluster.bin_dir)
    try:
        own.script("up")
        again = own.script("up")
        assert "already running" in again.stderr
        pid = int((own.state_dir / "kube-apiserver.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        restarted = own.script("up")
        assert "cleaned up a half-running control plane" in restarted.stderr
        assert own.kubectl("get", "--raw", "/readyz").stdout == "ok"
    finally:
        assert "stopped" in own.script("down").stderr
    assert "not running" in own.script("down").stderr
    assert not (own.state_dir / "etcd.pid").exists()

"""The chart installed into a real API server of its own; the operator run with exactly the
chart's ServiceAccount permissions."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.cluster import Cluster
from support.operator import (
    BackgroundServers,
    OperatorProcess,
    condition,
    endpoint,
    probes_total,
    the_one_probing,
    wait_for,
)
from support.processes import free_port
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
NETWORK_POLICY = [
    "--set", "networkPolicy.enabled=true",
    "--set", "networkPolicy.egress.probes.except={10.0.0.0/8,fd00::/8}",
    "--set", "networkPolicy.egress.apiServer.to[0].ipBlock.cidr=127.0.0.1/32",
    "--set", "networkPolicy.ingress.metrics.from[0].namespaceSelector.matchLabels.team=monitoring",
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
    # Only Secrets that opt in are read.
    own_cluster.kubectl(
        "-n", APP_NS, "label", "secret", "token", "wsaudit.io/probe-credential=true"
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


@pytest.mark.parametrize("source", ["generated", "job", "cert-manager"])
def test_every_toggle_renders_objects_the_api_server_accepts(
    own_cluster: Cluster, installed: str, source: str
) -> None:
    """Server-side dry run of the full render, the helm test Pod and the certificate hooks
    included, under the restricted profile. prometheus-operator's and cert-manager's kinds are
    left out: their CRDs are not here."""
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
        f"webhook.certificate.source={source}",
        "--set",
        f"watchNamespaces={{{APP_NS}}}",
        *NETWORK_POLICY,
    ).stdout
    documents = [d for d in yaml.safe_load_all(rendered) if d]
    kinds = {d["kind"] for d in documents}
    assert {"Pod", "NetworkPolicy"} <= kinds  # the helm test hook, the policy
    assert ("Job" in kinds) == (source == "job")
    for document in documents:
        if document["apiVersion"].startswith(("monitoring.coreos.com/", "cert-manager.io/")):
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


def live_deployment(cluster: Cluster) -> dict[str, Any]:
    done = cluster.kubectl("-n", RELEASE_NS, "get", "deployment", "wsaudit", "-o", "json")
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def peering_of(deployment: dict[str, Any]) -> str | None:
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return next((e["value"] for e in env if e["name"] == "WSAUDIT_PEERING"), None)


def webhook_trust(cluster: Cluster) -> tuple[str, list[str]]:
    """The serving Secret's data and each webhook's caBundle, as the API server has them."""
    secret = cluster.kubectl("-n", RELEASE_NS, "get", "secret", "wsaudit-webhook-tls", "-o", "json")
    configuration = cluster.kubectl(
        "get", "validatingwebhookconfiguration", "wsaudit", "-o", "json"
    )
    hooks = json.loads(configuration.stdout)["webhooks"]
    return json.dumps(json.loads(secret.stdout)["data"]), [
        h["clientConfig"]["caBundle"] for h in hooks
    ]


def test_an_upgrade_keeps_one_active_operator_and_the_webhook_certificate(
    own_cluster: Cluster, installed: str
) -> None:
    """Upgrades that change values, on the real API server: the strategy follows the replica
    count (Helm's patch clears rollingUpdate when switching to Recreate), every pod joins the
    peering, and the generated certificate and caBundle are reused."""
    trusted = webhook_trust(own_cluster)
    for replicas, strategy in (("1", {"type": "Recreate"}), ("2", {"type": "RollingUpdate"})):
        own_cluster.helm(
            "upgrade",
            "wsaudit",
            str(CHART),
            "--namespace",
            RELEASE_NS,
            "--reuse-values",
            "--wait=false",
            "--set",
            f"replicaCount={replicas}",
            "--set",
            "logFormat=text",
        )
        deployment = live_deployment(own_cluster)
        assert deployment["spec"]["replicas"] == int(replicas)
        assert {k: v for k, v in deployment["spec"]["strategy"].items() if k == "type"} == strategy
        if strategy["type"] == "Recreate":
            assert "rollingUpdate" not in deployment["spec"]["strategy"]
        assert peering_of(deployment) == "wsaudit"
        assert webhook_trust(own_cluster) == trusted


def rendered_peering(cluster: Cluster, *values: str) -> str | None:
    """WSAUDIT_PEERING of the Deployment the chart renders with these values."""
    rendered = cluster.helm("template", "wsaudit", str(CHART), *values).stdout
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    return peering_of(deployment)


def test_scaling_up_by_an_upgrade_never_runs_two_active_operators(
    own_cluster: Cluster,
    installed: str,
    servers: BackgroundServers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """replicaCount 1 -> 2 rolls the new pods out beside the old one (RollingUpdate; there is
    no kubelet here to run them). The old pod's operator and a new pod's, each configured as
    its rendered Deployment says (WSAUDIT_PEERING), run side by side: one probes, the other
    stands by. A standalone old pod would ignore the new one, and both would probe."""
    server = servers.start(websocket_server("strict"))
    for name in ("rolled-1", "rolled-2"):
        apply_in_app_namespace(own_cluster, endpoint(name, server.url(), tls={"required": False}))
    operators: list[OperatorProcess] = []
    try:
        for index, replicas in enumerate(("1", "2")):
            peering = rendered_peering(own_cluster, "--set", f"replicaCount={replicas}")
            if peering is None:
                monkeypatch.delenv("WSAUDIT_PEERING", raising=False)
            else:
                monkeypatch.setenv("WSAUDIT_PEERING", peering)
            operators.append(OperatorProcess(own_cluster, tmp_path / f"{index}.log"))
            if index == 0:
                wait_for(lambda: probes_total(operators[0]) >= 2, timeout=60)
        the_one_probing(operators)
    finally:
        for operator in operators:
            operator.stop()
        own_cluster.kubectl("-n", APP_NS, "delete", "wse", "rolled-1", "rolled-2", check=False)


GITOPS_NS = "gitops"


class GitOpsSync:
    """What Argo CD does with `helm template` output: Helm hooks become PreSync and PostSync
    hooks (run, then deleted once they succeed), everything else is applied with kubectl.
    There is no kubelet here, so each hook Job's container runs as a local process with its
    ServiceAccount's token, and the webhook's Service points at the operator process on
    loopback (ExternalName, and the webhook's port set to the process's): the same rewrite at
    every sync, so the syncs differ only by what the chart renders."""

    def __init__(self, cluster: Cluster, webhook_port: int, tmp_path: Path) -> None:
        self.cluster, self.webhook_port, self.tmp_path = cluster, webhook_port, tmp_path

    def render(self) -> str:
        return self.cluster.helm(
            "template",
            "gitops",
            str(CHART),
            "--namespace",
            GITOPS_NS,
            "--set",
            "crds.enabled=false",
            "--set",
            "webhook.mode=deny",
            "--set",
            "webhook.certificate.source=job",
        ).stdout

    def local(self, document: dict[str, Any]) -> dict[str, Any]:
        if document["kind"] == "Service" and document["metadata"]["name"].endswith("-webhook"):
            document["spec"] = {"type": "ExternalName", "externalName": "127.0.0.1"}
        if document["kind"] == "ValidatingWebhookConfiguration":
            for hook in document["webhooks"]:
                hook["clientConfig"]["service"]["port"] = self.webhook_port
        return document

    def apply(self, documents: list[dict[str, Any]], *flags: str) -> str:
        listed = json.dumps({"apiVersion": "v1", "kind": "List", "items": documents})
        return self.cluster.kubectl("apply", *flags, "-f", "-", stdin=listed).stdout

    def run_hook(self, job: dict[str, Any]) -> str:
        pod = job["spec"]["template"]["spec"]
        python, *args = pod["containers"][0]["command"]
        assert python == "python"
        token = self.cluster.service_account_kubeconfig(GITOPS_NS, pod["serviceAccountName"])
        done = subprocess.run(
            [sys.executable, *args],
            env={**os.environ, "KUBECONFIG": str(token)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert not done.stderr, done.stderr
        return done.stdout

    def sync(self, *apply_flags: str) -> list[str]:
        """One sync; returns the hook Jobs' output lines."""
        documents = [self.local(d) for d in yaml.safe_load_all(self.render()) if d]

        def hooks(phase: str) -> list[dict[str, Any]]:
            return [
                d
                for d in documents
                if f"{phase}-install"
                in d["metadata"].get("annotations", {}).get("helm.sh/hook", "")
            ]

        said: list[str] = []
        for phase in ("pre", "post"):
            if phase == "post":
                regular = [
                    d
                    for d in documents
                    if "helm.sh/hook" not in d["metadata"].get("annotations", {})
                ]
                self.apply(regular, *apply_flags)
            resources = [d for d in hooks(phase) if d["kind"] != "Job"]
            self.apply(resources)
            for job in (d for d in hooks(phase) if d["kind"] == "Job"):
                said += self.run_hook(job).splitlines()
            for resource in resources:  # hook-succeeded
                self.cluster.kubectl(
                    "delete", resource["kind"], resource["metadata"]["name"], "-n", GITOPS_NS
                )
        return said


def gitops_state(cluster: Cluster) -> dict[str, Any]:
    secret = json.loads(
        cluster.kubectl(
            "-n", GITOPS_NS, "get", "secret", "gitops-wsaudit-webhook-job-tls", "-o", "json"
        ).stdout
    )
    configuration = json.loads(
        cluster.kubectl(
            "get", "validatingwebhookconfiguration", "gitops-wsaudit", "-o", "json"
        ).stdout
    )
    return {
        "secret": secret["data"],
        "secret version": secret["metadata"]["resourceVersion"],
        "owners": [o["uid"] for o in secret["metadata"].get("ownerReferences", [])],
        "configuration uid": configuration["metadata"]["uid"],
        "configuration version": configuration["metadata"]["resourceVersion"],
        "caBundles": [h["clientConfig"].get("caBundle") for h in configuration["webhooks"]],
    }


def test_a_gitops_render_keeps_its_certificate_and_the_api_server_trusts_the_webhook(
    own_cluster: Cluster, installed: str, tmp_path: Path
) -> None:
    """webhook.certificate.source=job with `helm template` renders (Argo CD): the first sync's
    hooks create the Secret and set the caBundle, and the API server calls the webhook over
    TLS it verifies; later syncs render the same manifests, change nothing, and the webhook
    keeps answering, with client-side and with server-side apply."""
    own_cluster.kubectl("create", "namespace", GITOPS_NS)
    own_cluster.kubectl(
        "label", "namespace", GITOPS_NS, "pod-security.kubernetes.io/enforce=restricted"
    )
    gitops = GitOpsSync(own_cluster, free_port(), tmp_path)
    assert gitops.render() == gitops.render()

    created, not_yet, kept, trusted = gitops.sync()
    assert created == f"Secret {GITOPS_NS}/gitops-wsaudit-webhook-job-tls: created, with a new CA"
    assert not_yet.endswith("not there yet (the post-install run sets its caBundle)")
    assert kept.startswith(f"Secret {GITOPS_NS}/gitops-wsaudit-webhook-job-tls: kept (valid until")
    assert trusted == "ValidatingWebhookConfiguration gitops-wsaudit: caBundle set on 2 webhook(s)"
    first = gitops_state(own_cluster)
    ca = first["secret"]["ca.crt"]
    assert first["caBundles"] == [ca, ca]
    assert first["owners"] == [first["configuration uid"]]  # uninstalling deletes the key too

    # The kubelet's part: the Secret's files for the operator, run as the chart's account.
    mounted = tmp_path / "webhook"
    mounted.mkdir()
    for key in ("tls.crt", "tls.key"):
        (mounted / key).write_bytes(base64.b64decode(first["secret"][key]))
    operator = OperatorProcess(
        own_cluster,
        tmp_path / "gitops.log",
        "--webhook",
        "deny",
        "--webhook-port",
        str(gitops.webhook_port),
        "--webhook-cert",
        str(mounted / "tls.crt"),
        "--webhook-key",
        str(mounted / "tls.key"),
        "--peering",
        "gitops-wsaudit",
        kubeconfig=own_cluster.service_account_kubeconfig(GITOPS_NS, "gitops-wsaudit"),
    )
    origin = {"name": "Origin", "value": "https://app.example.com"}
    forged = endpoint("forged", "wss://chat.example.com/ws", headers=[origin])

    def webhook_rejects_the_forged_endpoint() -> None:
        done = own_cluster.kubectl("-n", APP_NS, "apply", "-f", "-", stdin=forged, check=False)
        assert done.returncode != 0
        assert "spec.headers: Origin is set by the prober itself" in done.stderr

    try:
        webhook_rejects_the_forged_endpoint()
        for apply_flags in ((), ("--server-side", "--force-conflicts")):
            said = gitops.sync(*apply_flags)
            assert [line.split(": ", 1)[1].split(" (")[0] for line in said] == [
                "kept",
                "already trusts the CA",
            ] * 2
            again = gitops_state(own_cluster)
            assert again["secret"] == first["secret"]
            assert again["caBundles"] == first["caBundles"]
            assert again["secret version"] == first["secret version"]  # not even rewritten
            if not apply_flags:  # kubectl apply found nothing to change
                assert again["configuration version"] == first["configuration version"]
            webhook_rejects_the_forged_endpoint()
    finally:
        operator.stop()
    log = (tmp_path / "gitops.log").read_text()
    assert "Traceback" not in log, log[-3000:]


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

"""Status writes against the real API server: nothing written when nothing changed, a
failed write retried alone with backoff (never re-probing the tenant's server), one Event
per transition, the schedule after a restart and wake-ups while writes fail, and the
operator's servers bound to `::`."""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from support import manifests
from support.cluster import Cluster
from support.endpoint_metrics import last_probe, sample
from support.handshakes import Handshakes
from support.operator import BackgroundServers, OperatorProcess, condition, endpoint, wait_for
from support.servers import websocket_server
from support.webhook import registered_webhook
from wsaudit.schedule import JITTER

pytestmark = pytest.mark.e2e

INTERVAL = 10.0  # the CRD's minimum; the write backoff's cap is the interval below a minute


def apply(cluster: Cluster, namespace: str, *manifests_: str) -> None:
    items = [json.loads(m) for m in manifests_]
    bulk = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=bulk)


def resource(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        cluster.kubectl("-n", namespace, "get", "wse", name, "-o", "json").stdout
    )
    return found


def is_ready(cluster: Cluster, namespace: str, name: str) -> bool:
    found = condition(cluster, namespace, name, "Ready")
    return found is not None and found["status"] == "True"


def event_counts(cluster: Cluster, namespace: str) -> Counter[tuple[str, str]]:
    """(object name, reason) -> how many Events, with their repeat counts."""
    listed = json.loads(cluster.kubectl("-n", namespace, "get", "events", "-o", "json").stdout)
    counts: Counter[tuple[str, str]] = Counter()
    for item in listed["items"]:
        counts[(item["involvedObject"]["name"], item["reason"])] += int(item.get("count") or 1)
    return counts


def writes(operator: OperatorProcess, result: str) -> float:
    return sample(operator, "wsaudit_status_writes_total", result=result) or 0.0


def probes_seen(operator: OperatorProcess, namespace: str, name: str, seconds: float) -> int:
    """How many probes the metrics show in the next `seconds`."""
    first = last_probe(operator, namespace, name)
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.add(last_probe(operator, namespace, name))
        time.sleep(1)
    return len(seen - {first, None})


@pytest.fixture
def operator_here(
    cluster: Cluster, crds: None, namespace: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator watching only the test's namespace."""
    process = OperatorProcess(cluster, tmp_path / "wsaudit.log", "--namespace", namespace)
    yield process
    process.stop()


def test_a_status_that_did_not_change_is_not_written(
    cluster: Cluster,
    namespace: str,
    operator_here: OperatorProcess,
    servers: BackgroundServers,
    tmp_path: Path,
) -> None:
    server = servers.start(websocket_server("strict"))
    spec = {"interval": "10s", "tls": {"required": False}}
    apply(cluster, namespace, endpoint("steady", server.url(), **spec))
    wait_for(lambda: is_ready(cluster, namespace, "steady"), timeout=30)
    before = resource(cluster, namespace, "steady")

    assert probes_seen(operator_here, namespace, "steady", 3.5 * INTERVAL) >= 3
    after = resource(cluster, namespace, "steady")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["status"] == before["status"]
    assert writes(operator_here, "written") == 1

    # A restarted operator starts from the object's status: nothing to write either.
    operator_here.stop()
    restarted = OperatorProcess(cluster, tmp_path / "restarted.log", "--namespace", namespace)
    try:
        assert probes_seen(restarted, namespace, "steady", 2.5 * INTERVAL) >= 2
        assert writes(restarted, "written") == 0
        assert resource(cluster, namespace, "steady") == after
    finally:
        restarted.stop()


# What the chart's RBAC grants (charts/wsaudit/templates/rbac.yaml, wsaudit.watchRules),
# except patch on the status.
OPERATOR_RULES = [
    {
        "apiGroups": ["apiextensions.k8s.io"],
        "resources": ["customresourcedefinitions"],
        "verbs": ["list", "watch"],
    },
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingressclasses"],
        "verbs": ["list", "watch"],
    },
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["servicecidrs"], "verbs": ["list"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]},
    {
        "apiGroups": ["wsaudit.io"],
        "resources": ["websocketendpoints"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    {"apiGroups": ["wsaudit.io"], "resources": ["websocketendpoints/status"], "verbs": ["get"]},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list"]},
    {"apiGroups": ["cloud.google.com"], "resources": ["backendconfigs"], "verbs": ["get"]},
]
STATUS_PATCH = [
    {"apiGroups": ["wsaudit.io"], "resources": ["websocketendpoints/status"], "verbs": ["patch"]}
]


def grant(cluster: Cluster, name: str, rules: list[dict[str, object]], subject: str) -> None:
    namespace, account = subject.split("/")
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(role))
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(binding))


# "status not written, retrying in 3.2 s: ... (4 failures in a row)"
RETRY_LINE = re.compile(
    r"status not written, retrying in ([\d.]+) s: .*\((\d+) failures in a row\)"
)


@dataclass
class Unwritable:
    """An operator watching the test's namespace as a ServiceAccount with the chart's RBAC
    but patch on the status."""

    cluster: Cluster
    namespace: str
    operator: OperatorProcess
    log: Path

    @property
    def roles(self) -> list[str]:
        return [f"{self.namespace}-wsaudit", f"{self.namespace}-wsaudit-status"]

    def allow_status_writes(self) -> None:
        grant(self.cluster, self.roles[1], STATUS_PATCH, f"{self.namespace}/wsaudit")


@pytest.fixture
def unwritable(
    cluster: Cluster, crds: None, namespace: str, tmp_path: Path
) -> Iterator[Unwritable]:
    cluster.kubectl("-n", namespace, "create", "serviceaccount", "wsaudit")
    grant(cluster, f"{namespace}-wsaudit", OPERATOR_RULES, f"{namespace}/wsaudit")
    kubeconfig = cluster.service_account_kubeconfig(namespace, "wsaudit")
    log = tmp_path / "wsaudit.log"
    operator = OperatorProcess(cluster, log, "--namespace", namespace, kubeconfig=kubeconfig)
    account = Unwritable(cluster, namespace, operator, log)
    yield account
    operator.stop()
    for role in account.roles:
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", role, check=False)


def test_a_failed_status_write_is_retried_alone_with_backoff(
    cluster: Cluster, namespace: str, unwritable: Unwritable, servers: BackgroundServers
) -> None:
    interval = 20.0  # longer than the minimum: re-probing every 5 s would stand out
    handshakes = Handshakes()
    server = servers.start(websocket_server(handshakes))
    operator, log = unwritable.operator, unwritable.log
    spec = {"interval": "20s", "tls": {"required": False}}
    apply(cluster, namespace, endpoint("chat", server.url(), **spec))
    wait_for(lambda: handshakes.allowed, timeout=30)
    watched = time.monotonic()
    window = 3 * interval
    time.sleep(window)
    # One probe per interval (+-10 %), where the write's retry re-probed every 5 s
    # (9 probes in this window).
    assert handshakes.since(watched) <= window / interval / 0.9 + 1
    retries = [(float(d), int(n)) for d, n in RETRY_LINE.findall(log.read_text())]
    failed = writes(operator, "failed")
    assert failed >= 4
    # Every failure is counted; the first in a row is a warning, the others log lines.
    assert len(retries) + 1 <= failed <= len(retries) + 2
    # Each wait is drawn from [0, min(interval, 2^(n-1) s)]: doubling from 1 s.
    assert all(delay <= min(interval, 2 ** (n - 1)) for delay, n in retries)
    assert resource(cluster, namespace, "chat").get("status") is None

    unwritable.allow_status_writes()
    # Written at the next attempt: within the backoff's cap (the interval).
    wait_for(lambda: is_ready(cluster, namespace, "chat"), timeout=interval + 3)
    wait_for(lambda: event_counts(cluster, namespace)[("chat", "AllChecksPassed")], 10)
    time.sleep(interval)
    assert writes(operator, "written") == 1
    assert event_counts(cluster, namespace)[("chat", "AllChecksPassed")] == 1


def test_only_a_spec_generation_the_loop_has_not_probed_wakes_it(
    cluster: Cluster, namespace: str, unwritable: Unwritable, servers: BackgroundServers
) -> None:
    """While status writes fail, status.observedGeneration stays behind: a wake-up decided
    from it re-probed on every change of the object (here: labels). The loop remembers the
    generation it probed."""
    handshakes = Handshakes()
    server = servers.start(websocket_server(handshakes))
    spec = {"interval": "60s", "timeout": "5s", "tls": {"required": False}}
    apply(cluster, namespace, endpoint("chat", server.url(), **spec))
    wait_for(lambda: handshakes.allowed, timeout=30)
    probed = time.monotonic()
    for number in range(3):
        cluster.kubectl("-n", namespace, "label", "wse", "chat", f"try={number}", "--overwrite")
        time.sleep(2)
    time.sleep(3)
    assert handshakes.since(probed) == 0
    assert writes(unwritable.operator, "failed") >= 1  # observedGeneration never written

    edited = time.monotonic()
    patch = json.dumps({"spec": {"timeout": "6s"}})
    cluster.kubectl("-n", namespace, "patch", "wse", "chat", "--type=merge", "-p", patch)
    wait_for(lambda: handshakes.since(edited), timeout=10)
    time.sleep(5)
    assert handshakes.since(edited) == 1


def test_a_restarted_operator_keeps_each_endpoints_schedule(
    cluster: Cluster,
    namespace: str,
    operator_here: OperatorProcess,
    servers: BackgroundServers,
    tmp_path: Path,
) -> None:
    """The next probe after a restart is one interval after the probe that wrote
    status.lastProbeTime (the restart once probed every endpoint at once)."""
    handshakes = Handshakes()
    server = servers.start(websocket_server(handshakes))
    interval = 30.0
    spec = {"interval": "30s", "tls": {"required": False}}
    apply(cluster, namespace, endpoint("chat", server.url(), **spec))
    wait_for(lambda: is_ready(cluster, namespace, "chat"), timeout=30)
    operator_here.stop()
    last = handshakes.allowed[-1]
    assert len(handshakes.allowed) == 1

    restarted = OperatorProcess(cluster, tmp_path / "restarted.log", "--namespace", namespace)
    try:
        wait_for(lambda: handshakes.since(last + 0.1), timeout=interval * 1.1 + 5)
        gap = handshakes.allowed[-1] - last
        # lastProbeTime has whole seconds and is taken when the probe ends.
        assert interval * (1 - JITTER) - 1.5 <= gap <= interval * (1 + JITTER) + 2
    finally:
        restarted.stop()


def test_each_transition_posts_one_event_in_a_bulk_creation(
    cluster: Cluster,
    namespace: str,
    operator_here: OperatorProcess,
    servers: BackgroundServers,
) -> None:
    """Once the next probe read the previous conditions from a watch event that lagged
    behind the last write, and posted most transitions' Events twice."""
    policy = Handshakes(open_to_all=True)
    server = servers.start(websocket_server(policy))
    names = [f"chat-{n}" for n in range(20)]
    spec = {"interval": "10s", "tls": {"required": False}}
    apply(cluster, namespace, *(endpoint(name, server.url(), **spec) for name in names))

    def origin(name: str) -> str:
        found = condition(cluster, namespace, name, "OriginEnforced")
        return str(found["status"]) if found else ""

    wait_for(lambda: all(origin(name) == "False" for name in names), timeout=40, every=2)
    policy.open_to_all = False  # the fix is deployed
    wait_for(lambda: all(origin(name) == "True" for name in names), timeout=40, every=2)
    time.sleep(2 * INTERVAL)  # two more probes each, finding the same

    counts = event_counts(cluster, namespace)
    for name in names:
        assert counts[(name, "HandshakeSucceeded")] == 1, name
        assert counts[(name, "UntrustedOriginAccepted")] == 2, name  # Ready and OriginEnforced
        assert counts[(name, "UntrustedOriginsRefused")] == 1, name
        assert counts[(name, "AllChecksPassed")] == 1, name


def fetch(url: str, context: ssl.SSLContext | None = None) -> int:
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        status: int = response.status
        return status


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_bound_to_ipv6_any_every_server_answers_on_both_families(
    cluster: Cluster, crds: None, namespace: str, ca: trustme.CA, tmp_path: Path
) -> None:
    with registered_webhook(cluster, ca, tmp_path) as webhook:
        operator = OperatorProcess(
            cluster,
            tmp_path / "wsaudit.log",
            *("--bind-address", "::", "--namespace", namespace, "--webhook", "warn"),
            *webhook.flags(),
        )  # healthy: /healthz answered on 127.0.0.1
        try:
            assert fetch(f"http://[::1]:{operator.health_port}/healthz") == 200
            assert fetch(f"http://[::1]:{operator.health_port}/readyz") == 200
            assert fetch(f"http://[::1]:{operator.metrics_port}/metrics") == 200
            assert "wsaudit_probes_total" in operator.metrics()  # on 127.0.0.1
            # kopf starts its webhook server right after readiness: wait until it listens.
            wait_for(lambda: listening(webhook.port))
            # The API server calls the webhook on 127.0.0.1; a client reaches it on ::1.
            ingress = manifests.nginx_ingress("chat", {"wsaudit.io/websocket": "true"})
            done = cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=json.dumps(ingress))
            assert "Warning: wsaudit ingress-nginx.proxy-read-timeout" in done.stderr
            context = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
            context.check_hostname = False  # the serving certificate names 127.0.0.1
            with pytest.raises(urllib.error.HTTPError) as refused:
                fetch(f"https://[::1]:{webhook.port}/validate-ingress", context)
            assert refused.value.code == 405  # an HTTP answer to a GET: kopf serves there
        finally:
            operator.stop()

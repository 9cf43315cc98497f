"""Two replicas with kopf peering: exactly one probes; the other takes over when it stops;
both answer admission requests alike."""

from __future__ import annotations

import contextlib
import datetime
import json
import re
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import trustme

from support import manifests
from support.cluster import Cluster
from support.nginx import nginx_running
from support.operator import (
    PEERING_SETTLE,
    BackgroundServers,
    OperatorProcess,
    endpoint,
    probes_total,
    running_operator,
    the_one_probing,
    wait_for,
)
from support.processes import free_port
from support.servers import websocket_server
from support.webhook import Webhook, registered_webhook

pytestmark = pytest.mark.e2e
PEERING_CRDS = Path(__file__).resolve().parents[2] / "crds" / "kopf.dev_clusterkopfpeerings.yaml"


def test_only_one_replica_probes_and_the_other_takes_over(
    cluster: Cluster, namespace: str, crds: None, servers: BackgroundServers, tmp_path: Path
) -> None:
    cluster.kubectl("apply", "-f", str(PEERING_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")
    server = servers.start(websocket_server("strict"))
    first = OperatorProcess(cluster, tmp_path / "a.log", "--peering", "wsaudit-e2e")
    second = OperatorProcess(cluster, tmp_path / "b.log", "--peering", "wsaudit-e2e")
    replicas = (first, second)
    try:
        for name in ("one", "two"):
            manifest = endpoint(name, server.url(), tls={"required": False})
            cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=manifest)
        wait_for(lambda: sum(probes_total(r) for r in replicas) >= 2, timeout=60)
        active = the_one_probing(replicas)
        standby = second if active is first else first
        paused_at = probes_total(standby)
        active.stop()
        wait_for(lambda: probes_total(standby) > paused_at, timeout=120, every=1)
    finally:
        first.stop()
        second.stop()


def outranking_peer() -> str:
    """A peering status entry that outranks every replica (their priorities are below
    2**31) for 10 minutes."""
    now = datetime.datetime.now(datetime.UTC).isoformat()
    peer = {"priority": 2**31, "lifetime": 600, "lastseen": now}
    return json.dumps({"status": {"outranking-test-peer": peer}})


def active(logs: list[Path]) -> list[Path]:
    """The replicas whose last peering decision (kopf starts each paused) was to resume."""
    decisions = (re.findall(r"(Pausing|Resuming) operations", log.read_text()) for log in logs)
    return [log for log, made in zip(logs, decisions, strict=True) if made[-1:] == ["Resuming"]]


def balancer_config(port: int, backends: list[int], webhook: Webhook, log: Path) -> str:
    """nginx terminating TLS with the webhook's certificate and passing each request to the
    next replica in turn (no upstream keep-alive: every request is balanced on its own)."""
    servers = "".join(f"server 127.0.0.1:{backend};" for backend in backends)
    return f"""
        log_format upstream '$upstream_addr $status';
        upstream replicas {{ {servers} }}
        server {{
            listen 127.0.0.1:{port} ssl;
            ssl_certificate {webhook.cert};
            ssl_certificate_key {webhook.key};
            access_log {log} upstream;
            location / {{ proxy_pass https://replicas; }}
        }}
    """


def test_every_replica_gives_the_same_admission_answer(
    cluster: Cluster, namespace: str, crds: None, ca: trustme.CA, tmp_path: Path
) -> None:
    """Two replicas in deny mode behind a round-robin balancer, one that has watched the
    cluster (active, then paused) and one paused from its start, whose watches never ran (a
    standby's empty indexes): the same Ingress gets the same answer 50 times out of 50, and
    both replicas gave answers."""
    cluster.kubectl("apply", "-f", str(PEERING_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")
    # A class only an IngressClass object maps to ingress-nginx (the annotations are of two
    # controllers): a replica that answers from its watch's IngressClasses, and has none,
    # would not know that ingress-nginx's rules apply.
    class_name = f"public-{uuid.uuid4().hex[:6]}"
    ingress_class = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": class_name},
        "spec": {"controller": "k8s.io/ingress-nginx"},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(ingress_class))
    peering = f"wsaudit-hooks-{uuid.uuid4().hex[:6]}"  # the outranking peer stays in it
    balancer, backends = free_port(), [free_port(), free_port()]
    access_log = tmp_path / "balancer-access.log"
    logs = [tmp_path / "watched.log", tmp_path / "standby.log"]
    with contextlib.ExitStack() as stack:
        url = f"https://127.0.0.1:{balancer}"
        webhook = stack.enter_context(registered_webhook(cluster, ca, tmp_path, url=url))
        config = balancer_config(balancer, backends, webhook, access_log)
        stack.enter_context(nginx_running(tmp_path / "nginx", config, [balancer]))

        def replica(index: int) -> None:
            flags = webhook.flags(backends[index])
            args = ("--peering", peering, "--webhook", "deny", *flags)
            stack.enter_context(running_operator(cluster, logs[index], *args))

        replica(0)
        wait_for(lambda: active(logs[:1]), 60)  # it watches: its indexes fill
        # A peer that outranks both pauses the first and keeps the second paused from its start.
        cluster.kubectl(
            "patch", "clusterkopfpeering", peering, "--type=merge", "-p", outranking_peer()
        )
        wait_for(lambda: not active(logs[:1]), 60)
        replica(1)
        time.sleep(PEERING_SETTLE)
        assert "Resuming operations" not in logs[1].read_text()
        for name, version, denied in (("bad", "1.0", True), ("good", "1.1", False)):
            annotations = {
                "wsaudit.io/websocket": "true",
                "nginx.ingress.kubernetes.io/proxy-http-version": version,
                "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
            }
            ingress = manifests.ingress(class_name, annotations, name=name, namespace=None)
            answers = [
                cluster.kubectl(
                    "-n",
                    namespace,
                    "apply",
                    "--dry-run=server",
                    "-f",
                    "-",
                    stdin=json.dumps(ingress),
                    check=False,
                )
                for _ in range(50)
            ]
            refused = [done for done in answers if done.returncode != 0]
            assert len(refused) == (50 if denied else 0), [d.stderr for d in answers[:3]]
            if denied:
                assert all("ingress-nginx.proxy-http-version" in d.stderr for d in refused)
    answered_by = Counter(
        line.split()[0] for line in access_log.read_text().splitlines() if line.endswith(" 200")
    )
    assert set(answered_by) == {f"127.0.0.1:{backend}" for backend in backends}, answered_by
    assert sum(answered_by.values()) == 100

"""Two replicas with kopf peering: exactly one probes; the other takes over when it stops."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.operator import BackgroundServers, OperatorProcess, endpoint, wait_for
from support.servers import websocket_server

pytestmark = pytest.mark.e2e
PEERING_CRDS = Path(__file__).resolve().parents[2] / "crds" / "kopf.dev_clusterkopfpeerings.yaml"


def probes(operator: OperatorProcess) -> float:
    found = re.findall(r'^wsaudit_probes_total\{result="\w+"\} ([0-9.e+]+)$', operator.metrics(),
                       re.MULTILINE)  # fmt: skip
    return sum(float(value) for value in found)


def test_only_one_replica_probes_and_the_other_takes_over(
    cluster: Cluster, namespace: str, crds: None, servers: BackgroundServers, tmp_path: Path
) -> None:
    cluster.kubectl("apply", "-f", str(PEERING_CRDS))
    cluster.kubectl("wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev")
    server = servers.start(websocket_server("strict"))
    first = OperatorProcess(cluster, tmp_path / "a.log", "--peering", "wsaudit-e2e")
    second = OperatorProcess(cluster, tmp_path / "b.log", "--peering", "wsaudit-e2e")
    try:
        for name in ("one", "two"):
            manifest = endpoint(name, server.url(), tls={"required": False})
            cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=manifest)
        replicas = (first, second)
        wait_for(lambda: sum(probes(r) for r in replicas) >= 4, timeout=60)
        active = [r for r in replicas if probes(r) > 0]
        assert len(active) == 1, [probes(r) for r in replicas]
        standby = second if active[0] is first else first
        active[0].stop()
        wait_for(lambda: probes(standby) > 0, timeout=120, every=1)
    finally:
        first.stop()
        second.stop()

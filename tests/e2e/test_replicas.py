"""Two replicas with kopf peering: exactly one probes; the other takes over when it stops."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.operator import BackgroundServers, OperatorProcess, endpoint, wait_for
from support.servers import websocket_server

pytestmark = pytest.mark.e2e
# kopf announces peers every few seconds; both replicas may probe once before they meet.
PEERING_SETTLE = 15
PEERING_CRDS = Path(__file__).resolve().parents[2] / "crds" / "kopf.dev_clusterkopfpeerings.yaml"


def probes(operator: OperatorProcess) -> float:
    found = re.findall(
        r'^wsaudit_probes_total\{result="\w+"\} ([0-9.e+]+)$', operator.metrics(), re.MULTILINE
    )
    return sum(float(value) for value in found)


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
        wait_for(lambda: sum(probes(r) for r in replicas) >= 2, timeout=60)
        time.sleep(PEERING_SETTLE)
        # Once the peers have seen each other, exactly one replica's probe count moves.
        before = [probes(r) for r in replicas]
        wait_for(lambda: sum(probes(r) for r in replicas) >= sum(before) + 4, timeout=60)
        moved = [r for r, count in zip(replicas, before, strict=True) if probes(r) > count]
        assert len(moved) == 1, [
            (count, probes(r)) for r, count in zip(replicas, before, strict=True)
        ]
        standby = second if moved[0] is first else first
        paused_at = probes(standby)
        moved[0].stop()
        wait_for(lambda: probes(standby) > paused_at, timeout=120, every=1)
    finally:
        first.stop()
        second.stop()

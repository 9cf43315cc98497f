"""A restarted operator finds the Ingresses that exist at start (no readiness barrier, no
"not found" while the watch catches up) and posts no Ingress Event it posted before. A module
of its own: no other operator may post Events meanwhile."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from support import manifests
from support.cluster import Cluster
from support.events import listed_events
from support.operator import condition, endpoint, running_operator, wait_for

pytestmark = pytest.mark.e2e

MISCONFIGURED = "WebSocketMisconfigured"


def ours(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    listed = listed_events(
        cluster, namespace, f"involvedObject.kind=Ingress,involvedObject.name={name}"
    )
    return [e for e in listed if e["reason"] in (MISCONFIGURED, "WebSocketReady")]


def posted(cluster: Cluster, namespace: str) -> set[str]:
    return {
        e["metadata"]["uid"] for name in ("chat", "feed") for e in ours(cluster, namespace, name)
    }


def test_a_restart_posts_no_ingress_event_again_and_never_loses_the_ingress(
    cluster: Cluster, namespace: str, crds: None, tmp_path: Path
) -> None:
    short_timeout = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "60"}
    annotated = manifests.nginx_ingress("chat", {"wsaudit.io/websocket": "true", **short_timeout})
    unannotated = manifests.nginx_ingress("feed", short_timeout)
    for ingress in (annotated, unannotated):
        cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=json.dumps(ingress))
    # An unresolvable host: the probe fails, the Ingress is still judged.
    unreachable = "wss://chat.example.com/ws"
    cluster.kubectl(
        "-n",
        namespace,
        "apply",
        "-f",
        "-",
        stdin=endpoint("feed", unreachable, ingressRef={"name": "feed"}),
    )
    series = f'ingress="chat",namespace="{namespace}",rule="ingress-nginx.proxy-read-timeout"'
    with running_operator(cluster, tmp_path / "first.log") as operator:
        wait_for(lambda: series in operator.metrics(), 30)
        wait_for(lambda: len(ours(cluster, namespace, "chat")) == 1, 20)
        wait_for(lambda: len(ours(cluster, namespace, "feed")) == 1, 30)
    first = posted(cluster, namespace)

    with running_operator(cluster, tmp_path / "second.log") as operator:
        wait_for(lambda: series in operator.metrics(), 30)
        # The endpoint's first probe after the restart judges the Ingress it refers to: it
        # was listed before any probe, so it is never "not found" in between.
        started = time.monotonic()
        while time.monotonic() - started < 12:
            found = condition(cluster, namespace, "feed", "IngressConfigured")
            assert found is not None
            assert found["reason"] != "IngressNotFound", found
            time.sleep(0.5)
        assert f'ingress="feed",namespace="{namespace}"' in operator.metrics()
    assert posted(cluster, namespace) == first

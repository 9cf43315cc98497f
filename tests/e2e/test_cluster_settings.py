"""The operator reads an ingress controller's ConfigMap named by --controller-config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import manifests
from support.cluster import Cluster
from support.operator import running_operator, wait_for

pytestmark = pytest.mark.e2e


def test_the_controller_configmap_sets_the_global_read_timeout(
    cluster: Cluster, namespace: str, crds: None, tmp_path: Path
) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ingress-nginx-controller"},
        "data": {"proxy-read-timeout": "3600"},
    }
    cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=json.dumps(config_map))
    websocket = {"wsaudit.io/websocket": "true"}
    # No read timeout on the Ingress: the ConfigMap's 3600 s applies.
    global_only = manifests.ingress("nginx", websocket, name="global", namespace=None)
    # The annotation wins over the ConfigMap.
    short = {**websocket, "nginx.ingress.kubernetes.io/proxy-read-timeout": "60"}
    overridden = manifests.ingress("nginx", short, name="overridden", namespace=None)
    for ingress in (global_only, overridden):
        cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=json.dumps(ingress))
    flags = ("--controller-config", f"{namespace}/ingress-nginx-controller")
    with running_operator(cluster, tmp_path / "wsaudit.log", *flags) as operator:

        def finding(ingress: str, rule: str) -> str:
            return f'ingress="{ingress}",namespace="{namespace}",rule="{rule}"'

        def audited() -> bool:
            metrics = operator.metrics()
            return finding("global", "ingress-nginx.retired") in metrics and (
                finding("overridden", "ingress-nginx.proxy-read-timeout") in metrics
            )

        wait_for(audited, 60)
        assert finding("global", "ingress-nginx.proxy-read-timeout") not in operator.metrics()

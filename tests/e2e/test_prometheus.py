"""A real Prometheus scraping a running operator evaluates the shipped alert rules."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.operator import BackgroundServers, OperatorProcess, endpoint, wait_for
from support.prometheus import running_prometheus
from support.servers import websocket_server

pytestmark = pytest.mark.e2e
RULES = Path(__file__).resolve().parents[2] / "charts/wsaudit/files/alerts/wsaudit.rules.yaml"


def test_origin_alert_is_raised_for_a_vulnerable_endpoint_only(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    servers: BackgroundServers,
    tmp_path: Path,
) -> None:
    strict = servers.start(websocket_server("strict"))
    vulnerable = servers.start(websocket_server("none"))
    for name, server in (("strict", strict), ("vulnerable", vulnerable)):
        manifest = endpoint(name, server.url(), tls={"required": False})
        cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=manifest)

    with running_prometheus(tmp_path, f"127.0.0.1:{operator.metrics_port}", RULES) as prometheus:

        def origin_alerts() -> list[dict[str, object]]:
            return [
                alert
                for alert in prometheus.alerts()
                if alert["labels"]["alertname"] == "WsauditOriginNotEnforced"
                and alert["labels"].get("namespace") == namespace
            ]

        def strict_is_enforced() -> bool:
            query = f'wsaudit_endpoint_origin_enforced{{namespace="{namespace}",name="strict"}}'
            found = prometheus.api(f"query?query={urllib.parse.quote(query)}")["result"]
            return bool(found) and found[0]["value"][1] == "1"

        wait_for(strict_is_enforced, timeout=60)  # both endpoints probed and scraped
        raised = wait_for(origin_alerts, timeout=30)
        assert [a["labels"]["name"] for a in raised] == ["vulnerable"]  # type: ignore[index]
        assert raised[0]["state"] in ("pending", "firing")
        assert raised[0]["labels"]["severity"] == "critical"  # type: ignore[index]
        targets = prometheus.api("targets")["activeTargets"]
        assert [t["health"] for t in targets] == ["up"]

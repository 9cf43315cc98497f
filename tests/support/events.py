"""Kubernetes Events as the e2e tests read them."""

from __future__ import annotations

import json
from typing import Any

from .cluster import Cluster


def listed_events(cluster: Cluster, namespace: str, field_selector: str) -> list[dict[str, Any]]:
    """The Events in `namespace` that match `field_selector` (e.g. involvedObject.name=x)."""
    done = cluster.kubectl(
        "-n", namespace, "get", "events", "-o", "json", f"--field-selector={field_selector}"
    )
    items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
    return items

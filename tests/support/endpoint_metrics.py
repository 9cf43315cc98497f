"""Reading an operator's /metrics in e2e tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from .operator import OperatorProcess


def sample(operator: OperatorProcess, metric: str, **labels: str) -> float | None:
    """The value of the one sample of `metric` whose labels include `labels`."""
    for family in text_string_to_metric_families(operator.metrics()):
        for found in family.samples:
            if found.name == metric and labels.items() <= found.labels.items():
                return float(found.value)
    return None


def last_probe(operator: OperatorProcess, namespace: str, name: str) -> float | None:
    return sample(
        operator,
        "wsaudit_endpoint_last_probe_timestamp_seconds",
        namespace=namespace,
        name=name,
    )

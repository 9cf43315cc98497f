"""Every Prometheus metric wsaudit exposes, and the only code that writes them.

Names follow blackbox_exporter where it has a word. Endpoint series are labelled by
`namespace` and `name` only (never a URL or an Origin: unbounded, and possibly secret).

Endpoint and Ingress series come from one custom Collector over the latest state of each
object (as cert-manager's and kube-state-metrics' collectors do): a probe replaces an
endpoint's state whole, so no series outlives what it describes. A value that was not
judged is absent, never 0: `origin_enforced` exists only when OriginEnforced is True or
False, and conditions are exported one-hot with `status="True|False|Unknown"`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .audit import Finding
from .probe import CheckStatus, ProbeResult

PHASES = ("dns", "connect", "tls", "handshake", "total")
CONDITION_STATUSES = ("True", "False", "Unknown")
_OK = (CheckStatus.PASS, CheckStatus.WARN)
_ENDPOINT = ("namespace", "name")


@dataclass(frozen=True)
class EndpointState:
    """What is exported for one endpoint: its conditions, and its last probe if the last
    attempt could probe (a missing Secret or an invalid spec leaves no probe verdicts)."""

    conditions: tuple[tuple[str, str], ...]  # (type, status)
    interval: float
    result: ProbeResult | None = None
    last_probe: float | None = None  # when the last probe finished, kept while blocked
    cert_threshold_days: int | None = None


def cert_not_after(result: ProbeResult) -> float | None:
    expiry = result.check("tls.expiry")
    not_after = expiry.details.get("notAfter") if expiry else None
    if not isinstance(not_after, str):
        return None
    return datetime.datetime.fromisoformat(not_after).timestamp()


def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=[*_ENDPOINT, *labels])


class _StateCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        # The scrape runs in the HTTP server's thread: read a copy (dict.copy is atomic).
        endpoints = self._metrics.endpoints.copy()
        findings = self._metrics.findings.copy()
        yield from _endpoint_families(endpoints)
        families = GaugeMetricFamily(
            "wsaudit_ingress_findings",
            "Findings of the Ingress audit, by rule and severity.",
            labels=["namespace", "ingress", "rule", "severity"],
        )
        for (namespace, ingress), counts in findings.items():
            for (rule, severity), count in counts.items():
                families.add_metric([namespace, ingress, rule, severity], count)
        yield families


def _endpoint_families(endpoints: dict[tuple[str, str], EndpointState]) -> Iterator[Metric]:
    condition = _gauge(
        "wsaudit_endpoint_condition",
        "The endpoint's status conditions, one-hot: 1 for the current status of each type.",
        "type",
        "status",
    )
    up = _gauge(
        "wsaudit_endpoint_up",
        "1 when every allowed Origin got a working WebSocket (101, valid accept, kept "
        "open); absent while the endpoint cannot be probed.",
    )
    secure = _gauge(
        "wsaudit_endpoint_secure",
        "1 when Secure is True (wss:// with a valid, non-expiring certificate), 0 when "
        "False; absent when not judged.",
    )
    origin = _gauge(
        "wsaudit_endpoint_origin_enforced",
        "1 when OriginEnforced is True, 0 when False (Cross-Site WebSocket Hijacking "
        "possible); absent when not judged (Unknown).",
    )
    check = _gauge(
        "wsaudit_endpoint_check",
        "Per check: 1 pass (or warn), 0 fail; skipped checks have no series.",
        "check",
    )
    status_code = _gauge(
        "wsaudit_endpoint_handshake_status_code",
        "HTTP status of the handshake with the allowed Origin (0: no HTTP answer), as "
        "blackbox_exporter's probe_websocket_status_code.",
    )
    expiry = _gauge(
        "wsaudit_endpoint_cert_expiry_timestamp_seconds",
        "The earliest notAfter of the served, verified certificate chain.",
    )
    threshold = _gauge(
        "wsaudit_endpoint_cert_expiry_threshold_seconds",
        "The endpoint's tls.minCertificateDays in seconds: the expiry alert fires below it.",
    )
    last_probe = _gauge(
        "wsaudit_endpoint_last_probe_timestamp_seconds", "When the last probe finished."
    )
    interval = _gauge(
        "wsaudit_endpoint_probe_interval_seconds",
        "The endpoint's spec.interval: alerts on stale probes compare against it.",
    )
    for key, state in endpoints.items():
        labels = list(key)
        statuses = dict(state.conditions)
        for condition_type, current in state.conditions:
            for status in CONDITION_STATUSES:
                condition.add_metric([*labels, condition_type, status], float(status == current))
        for family, condition_type in ((secure, "Secure"), (origin, "OriginEnforced")):
            if statuses.get(condition_type) in ("True", "False"):
                family.add_metric(labels, float(statuses[condition_type] == "True"))
        interval.add_metric(labels, state.interval)
        if state.last_probe is not None:
            last_probe.add_metric(labels, state.last_probe)
        result = state.result
        if result is None:
            continue
        handshake = result.check("handshake")
        up.add_metric(labels, float(handshake is not None and handshake.status in _OK))
        code = handshake.details.get("status") if handshake else None
        status_code.add_metric(labels, float(code) if isinstance(code, int) else 0.0)
        for item in result.checks:
            if item.status is not CheckStatus.SKIP:
                check.add_metric([*labels, item.id], float(item.status in _OK))
        not_after = cert_not_after(result)
        if not_after is not None:
            expiry.add_metric(labels, not_after)
            if state.cert_threshold_days is not None:
                threshold.add_metric(labels, state.cert_threshold_days * 86400.0)
    yield from (
        condition,
        up,
        secure,
        origin,
        check,
        status_code,
        expiry,
        threshold,
        last_probe,
        interval,
    )


class Metrics:
    """One instance per operator process (tests make their own registries)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.endpoints: dict[tuple[str, str], EndpointState] = {}
        self.findings: dict[tuple[str, str], dict[tuple[str, str], int]] = {}
        self.duration = Histogram(
            "wsaudit_probe_duration_seconds",
            "Probe duration by phase (of the allowed-Origin handshake; total is the whole probe).",
            ["phase"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.probes = Counter(
            "wsaudit_probes_total",
            "Probes by result (success: no check failed; error: the probe itself raised).",
            ["result"],
            registry=self.registry,
        )
        self.start_delay = Histogram(
            "wsaudit_probe_start_delay_seconds",
            "How long after it fell due a probe got its probe slot: seconds here mean the "
            "replica cannot keep up with its endpoints' intervals (slots or CPU).",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )
        self.status_writes = Counter(
            "wsaudit_status_writes_total",
            "Status writes by result (written; failed: retried alone with backoff; rejected: "
            "the API server refused the content, HTTP 422). Probes whose status did not "
            "change write nothing.",
            ["result"],
            registry=self.registry,
        )
        self.registry.register(_StateCollector(self))

    def record_probe(
        self,
        namespace: str,
        name: str,
        result: ProbeResult,
        *,
        conditions: Sequence[tuple[str, str]],
        finished: float,
        interval: float,
        cert_threshold_days: int | None = None,
    ) -> None:
        self.endpoints[(namespace, name)] = EndpointState(
            conditions=tuple(conditions),
            interval=interval,
            result=result,
            last_probe=finished,
            cert_threshold_days=cert_threshold_days,
        )
        for phase in PHASES:
            if phase in result.timings:
                self.duration.labels(phase).observe(result.timings[phase])
        outcome = (
            "error" if result.cause == "probe-error" else "failure" if result.failed else "success"
        )
        self.probes.labels(outcome).inc()

    def record_blocked(
        self, namespace: str, name: str, *, conditions: Sequence[tuple[str, str]], interval: float
    ) -> None:
        """No probe could run (missing Secret, invalid spec): the conditions say why; the
        probe verdicts go (they would be stale claims) and the last probe time stays."""
        previous = self.endpoints.get((namespace, name))
        self.endpoints[(namespace, name)] = EndpointState(
            conditions=tuple(conditions),
            interval=interval,
            last_probe=previous.last_probe if previous else None,
        )

    def record_probe_start(self, delay: float) -> None:
        self.start_delay.observe(max(0.0, delay))

    def record_status_write(self, result: str) -> None:
        self.status_writes.labels(result).inc()

    def forget_endpoint(self, namespace: str, name: str) -> None:
        self.endpoints.pop((namespace, name), None)

    def record_findings(self, namespace: str, ingress: str, findings: Iterable[Finding]) -> None:
        counts: dict[tuple[str, str], int] = {}
        for finding in findings:
            label = (finding.rule, finding.severity.label)
            counts[label] = counts.get(label, 0) + 1
        self.findings[(namespace, ingress)] = counts

    def forget_ingress(self, namespace: str, ingress: str) -> None:
        self.findings.pop((namespace, ingress), None)

"""Every Prometheus metric wsaudit exposes, and the only code that writes them.

Names follow blackbox_exporter where it has a word. Endpoint series are labelled by
`namespace` and `name` only (never a URL or an Origin: unbounded, and possibly secret), and
disappear with their resource.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .audit import Finding
from .probe import CheckStatus, ProbeResult

PHASES = ("dns", "connect", "tls", "handshake", "total")
_OK = (CheckStatus.PASS, CheckStatus.WARN)


class Metrics:
    """One instance per operator process (tests make their own registries)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        endpoint = ["namespace", "name"]
        r = self.registry
        self.up = Gauge(
            "wsaudit_endpoint_up",
            "1 when every allowed Origin got a WebSocket (101 with a valid accept).",
            endpoint,
            registry=r,
        )
        self.secure = Gauge(
            "wsaudit_endpoint_secure",
            "1 when wss:// with a valid, non-expiring certificate.",
            endpoint,
            registry=r,
        )
        self.origin_enforced = Gauge(
            "wsaudit_endpoint_origin_enforced",
            "1 when every untrusted Origin was refused (0: Cross-Site WebSocket Hijacking "
            "possible).",
            endpoint,
            registry=r,
        )
        self.check = Gauge(
            "wsaudit_endpoint_check",
            "Per check: 1 pass (or warn), 0 fail; skipped checks have no series.",
            [*endpoint, "check"],
            registry=r,
        )
        self.status_code = Gauge(
            "wsaudit_endpoint_handshake_status_code",
            "HTTP status of the handshake with the allowed Origin (0: no HTTP answer), as "
            "blackbox_exporter's probe_websocket_status_code.",
            endpoint,
            registry=r,
        )
        self.cert_expiry = Gauge(
            "wsaudit_endpoint_cert_expiry_timestamp_seconds",
            "notAfter of the served certificate.",
            endpoint,
            registry=r,
        )
        self.last_probe = Gauge(
            "wsaudit_endpoint_last_probe_timestamp_seconds",
            "When the last probe finished.",
            endpoint,
            registry=r,
        )
        self.interval = Gauge(
            "wsaudit_endpoint_probe_interval_seconds",
            "The endpoint's spec.interval: alerts on stale probes compare against it.",
            endpoint,
            registry=r,
        )
        self.duration = Histogram(
            "wsaudit_probe_duration_seconds",
            "Probe duration by phase (of the allowed-Origin handshake; total is the whole probe).",
            ["phase"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.probes = Counter(
            "wsaudit_probes_total",
            "Probes by result (success: no check failed).",
            ["result"],
            registry=r,
        )
        self.ingress_findings = Gauge(
            "wsaudit_ingress_findings",
            "Findings of the Ingress audit, by rule and severity.",
            ["namespace", "ingress", "rule", "severity"],
            registry=r,
        )
        self._checks_seen: dict[tuple[str, str], set[str]] = {}
        self._findings_seen: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def record_probe(
        self,
        namespace: str,
        name: str,
        result: ProbeResult,
        *,
        finished: float,
        cert_not_after: float | None,
        interval: float,
    ) -> None:
        key = (namespace, name)
        tls = [c.status for c in result.checks if c.id.startswith("tls.")]
        origin = [c.status for c in result.checks if c.id.startswith("origin.")]
        handshake = result.check("handshake")
        self.up.labels(*key).set(float(handshake is not None and handshake.status in _OK))
        self.secure.labels(*key).set(float(bool(tls) and all(s is CheckStatus.PASS for s in tls)))
        self.origin_enforced.labels(*key).set(
            float(CheckStatus.PASS in origin and CheckStatus.FAIL not in origin)
        )
        status = handshake.details.get("status") if handshake else None
        self.status_code.labels(*key).set(float(status) if isinstance(status, int) else 0.0)
        seen = self._checks_seen.setdefault(key, set())
        current = {c.id for c in result.checks if c.status is not CheckStatus.SKIP}
        for stale in seen - current:
            self.check.remove(*key, stale)
        for check in result.checks:
            if check.id in current:
                self.check.labels(*key, check.id).set(float(check.status in _OK))
        self._checks_seen[key] = current
        if cert_not_after is not None:
            self.cert_expiry.labels(*key).set(cert_not_after)
        self.last_probe.labels(*key).set(finished)
        self.interval.labels(*key).set(interval)
        for phase in PHASES:
            if phase in result.timings:
                self.duration.labels(phase).observe(result.timings[phase])
        self.probes.labels("failure" if result.failed else "success").inc()

    def forget_endpoint(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        for gauge in (
            self.up,
            self.secure,
            self.origin_enforced,
            self.status_code,
            self.cert_expiry,
            self.last_probe,
            self.interval,
        ):
            with contextlib.suppress(KeyError):
                gauge.remove(*key)
        for check_id in self._checks_seen.pop(key, set()):
            self.check.remove(*key, check_id)

    def record_findings(self, namespace: str, ingress: str, findings: Iterable[Finding]) -> None:
        key = (namespace, ingress)
        counts: dict[tuple[str, str], int] = {}
        for finding in findings:
            label = (finding.rule, finding.severity.label)
            counts[label] = counts.get(label, 0) + 1
        for stale in self._findings_seen.get(key, set()) - set(counts):
            self.ingress_findings.remove(*key, *stale)
        for (rule, severity), count in counts.items():
            self.ingress_findings.labels(*key, rule, severity).set(count)
        self._findings_seen[key] = set(counts)

    def forget_ingress(self, namespace: str, ingress: str) -> None:
        self.record_findings(namespace, ingress, [])
        self._findings_seen.pop((namespace, ingress), None)

"""Metric series appear, change and disappear with their resources."""

from __future__ import annotations

from prometheus_client import generate_latest

from wsaudit.audit import Finding, Severity
from wsaudit.metrics import Metrics
from wsaudit.probe import Check, CheckStatus, ProbeResult

TIMES = {"finished": 1e9, "cert_not_after": 2e9, "interval": 60.0}


def exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def probe_result(origin: CheckStatus, idle: CheckStatus = CheckStatus.SKIP) -> ProbeResult:
    checks = [
        Check("tls.scheme", CheckStatus.PASS, ""),
        Check("tls.certificate", CheckStatus.PASS, ""),
        Check("tls.expiry", CheckStatus.PASS, ""),
        Check("handshake", CheckStatus.PASS, "", {"status": 101}),
        Check("origin.foreign", origin, ""),
        Check("idle", idle, ""),
    ]
    return ProbeResult("wss://a/", checks, {"dns": 0.001, "handshake": 0.01, "total": 0.05})


def test_endpoint_series_follow_the_probe_and_vanish_on_delete() -> None:
    metrics = Metrics()
    metrics.record_probe("prod", "chat", probe_result(CheckStatus.FAIL, CheckStatus.PASS), **TIMES)
    text = exposition(metrics)
    assert 'wsaudit_endpoint_up{name="chat",namespace="prod"} 1.0' in text
    assert 'wsaudit_endpoint_origin_enforced{name="chat",namespace="prod"} 0.0' in text
    assert 'wsaudit_endpoint_check{check="origin.foreign",name="chat",namespace="prod"} 0.0' in text
    assert 'wsaudit_endpoint_check{check="idle",name="chat",namespace="prod"} 1.0' in text
    assert 'wsaudit_endpoint_handshake_status_code{name="chat",namespace="prod"} 101.0' in text
    assert 'wsaudit_probes_total{result="failure"} 1.0' in text
    assert 'wsaudit_endpoint_probe_interval_seconds{name="chat",namespace="prod"} 60.0' in text
    assert 'wsaudit_probe_duration_seconds_count{phase="handshake"} 1.0' in text

    metrics.record_probe("prod", "chat", probe_result(CheckStatus.PASS), **TIMES)
    text = exposition(metrics)
    assert 'wsaudit_endpoint_origin_enforced{name="chat",namespace="prod"} 1.0' in text
    assert 'check="idle"' not in text  # skipped now: no stale series

    metrics.forget_endpoint("prod", "chat")
    assert 'name="chat"' not in exposition(metrics)


def test_ingress_findings_are_counted_and_stale_rules_removed() -> None:
    metrics = Metrics()
    warn = Finding("ingress-nginx.proxy-read-timeout", Severity.WARNING, "prod/chat", "", "")
    info = Finding("ingress-nginx.retired", Severity.INFO, "prod/chat", "", "")
    metrics.record_findings("prod", "chat", [warn, info])
    text = exposition(metrics)
    assert (
        'wsaudit_ingress_findings{ingress="chat",namespace="prod",'
        'rule="ingress-nginx.proxy-read-timeout",severity="warning"} 1.0'
    ) in text
    metrics.record_findings("prod", "chat", [info])
    assert "proxy-read-timeout" not in exposition(metrics)
    metrics.forget_ingress("prod", "chat")
    assert 'ingress="chat"' not in exposition(metrics)

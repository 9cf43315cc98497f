"""Metric series appear, change and disappear with their resources."""

from __future__ import annotations

from prometheus_client import generate_latest

from wsaudit.audit import Finding, Severity
from wsaudit.metrics import Metrics
from wsaudit.probe import Check, CheckStatus, ProbeResult

TIMES = {"finished": 1e9, "interval": 60.0}
CONDITIONS = [("Ready", "True"), ("Reachable", "True"), ("OriginEnforced", "True")]


def exposition(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


def probe_result(origin: CheckStatus, idle: CheckStatus = CheckStatus.SKIP) -> ProbeResult:
    checks = [
        Check("tls.scheme", CheckStatus.PASS, ""),
        Check("tls.certificate", CheckStatus.PASS, ""),
        Check("tls.expiry", CheckStatus.PASS, "", {"notAfter": "2033-05-18T03:33:20+00:00"}),
        Check("handshake", CheckStatus.PASS, "", {"status": 101}),
        Check("origin.foreign", origin, ""),
        Check("idle", idle, ""),
    ]
    return ProbeResult("wss://a/", checks, {"dns": 0.001, "handshake": 0.01, "total": 0.05})


def test_endpoint_series_follow_the_probe_and_vanish_on_delete() -> None:
    metrics = Metrics()
    failing = [("Ready", "False"), ("Reachable", "True"), ("OriginEnforced", "False")]
    result = probe_result(CheckStatus.FAIL, CheckStatus.PASS)
    metrics.record_probe("prod", "chat", result, conditions=failing, **TIMES)
    text = exposition(metrics)
    assert 'wsaudit_endpoint_up{name="chat",namespace="prod"} 1.0' in text
    assert 'wsaudit_endpoint_origin_enforced{name="chat",namespace="prod"} 0.0' in text
    assert 'wsaudit_endpoint_check{check="origin.foreign",name="chat",namespace="prod"} 0.0' in text
    assert 'wsaudit_endpoint_check{check="idle",name="chat",namespace="prod"} 1.0' in text
    assert 'wsaudit_endpoint_handshake_status_code{name="chat",namespace="prod"} 101.0' in text
    assert 'wsaudit_probes_total{result="failure"} 1.0' in text
    assert 'wsaudit_endpoint_probe_interval_seconds{name="chat",namespace="prod"} 60.0' in text
    assert 'wsaudit_probe_duration_seconds_count{phase="handshake"} 1.0' in text
    assert (
        'wsaudit_endpoint_condition{name="chat",namespace="prod",status="False",'
        'type="OriginEnforced"} 1.0'
    ) in text
    assert (
        'wsaudit_endpoint_condition{name="chat",namespace="prod",status="True",'
        'type="OriginEnforced"} 0.0'
    ) in text

    metrics.record_probe(
        "prod", "chat", probe_result(CheckStatus.PASS), conditions=CONDITIONS, **TIMES
    )
    text = exposition(metrics)
    assert 'wsaudit_endpoint_origin_enforced{name="chat",namespace="prod"} 1.0' in text
    assert 'check="idle"' not in text  # skipped now: no stale series

    metrics.forget_endpoint("prod", "chat")
    assert 'name="chat"' not in exposition(metrics)


def test_not_judged_is_absent_not_zero() -> None:
    metrics = Metrics()
    unknown = [("Ready", "Unknown"), ("Reachable", "True"), ("OriginEnforced", "Unknown")]
    metrics.record_probe(
        "prod", "quiet", probe_result(CheckStatus.SKIP), conditions=unknown, **TIMES
    )
    text = exposition(metrics)
    assert "wsaudit_endpoint_origin_enforced{" not in text
    assert (
        'wsaudit_endpoint_condition{name="quiet",namespace="prod",status="Unknown",'
        'type="OriginEnforced"} 1.0'
    ) in text


def test_a_blocked_endpoint_keeps_no_probe_verdicts_but_its_last_probe_time() -> None:
    metrics = Metrics()
    metrics.record_probe(
        "prod", "chat", probe_result(CheckStatus.PASS), conditions=CONDITIONS, **TIMES
    )
    blocked = [("Ready", "False"), ("Reachable", "Unknown"), ("OriginEnforced", "Unknown")]
    metrics.record_blocked("prod", "chat", conditions=blocked, interval=60.0)
    text = exposition(metrics)
    for gone in ("wsaudit_endpoint_up{", "wsaudit_endpoint_check{", "expiry_timestamp_seconds{"):
        assert gone not in text
    assert (
        'wsaudit_endpoint_last_probe_timestamp_seconds{name="chat",namespace="prod"} 1e+09' in text
    )
    assert 'status="False",type="Ready"} 1.0' in text


def test_certificate_expiry_and_its_threshold_are_per_endpoint() -> None:
    metrics = Metrics()
    result = probe_result(CheckStatus.PASS)
    metrics.record_probe(
        "prod", "a", result, conditions=CONDITIONS, cert_threshold_days=30, **TIMES
    )
    text = exposition(metrics)
    assert 'wsaudit_endpoint_cert_expiry_timestamp_seconds{name="a",namespace="prod"} 2e+09' in text
    assert (
        'wsaudit_endpoint_cert_expiry_threshold_seconds{name="a",namespace="prod"} 2.592e+06'
    ) in text
    without_tls = ProbeResult("ws://a/", [Check("handshake", CheckStatus.PASS, "")], {})
    metrics.record_probe("prod", "a", without_tls, conditions=CONDITIONS, **TIMES)
    assert (
        "cert_expiry"
        not in exposition(metrics)
        .split("# HELP wsaudit_endpoint_cert_expiry_threshold")[0]
        .split("TYPE wsaudit_endpoint_cert_expiry_timestamp_seconds gauge")[1]
    )


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


def test_how_late_probes_start_is_a_histogram() -> None:
    metrics = Metrics()
    for delay in (0.0, 0.3, 7.0, -0.01):  # a clock read before `due` counts as on time
        metrics.record_probe_start(delay)
    text = exposition(metrics)
    assert 'wsaudit_probe_start_delay_seconds_bucket{le="0.1"} 2.0' in text
    assert 'wsaudit_probe_start_delay_seconds_bucket{le="10.0"} 4.0' in text
    assert "wsaudit_probe_start_delay_seconds_count 4.0" in text

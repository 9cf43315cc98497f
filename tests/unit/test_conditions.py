"""Conditions a user reads with kubectl, from probe results."""

from __future__ import annotations

from wsaudit.api.conditions import (
    blocked_verdicts,
    camel,
    ingress_configured,
    probe_verdicts,
    settle,
    suspended_verdicts,
)
from wsaudit.audit import Finding, Severity
from wsaudit.probe import Check, CheckStatus, ProbeResult

P, F, W, S = CheckStatus.PASS, CheckStatus.FAIL, CheckStatus.WARN, CheckStatus.SKIP


def result(cause: str | None = None, **statuses: CheckStatus) -> ProbeResult:
    base = {
        "tls.scheme": P,
        "tls.certificate": P,
        "tls.expiry": P,
        "handshake": P,
        "origin.foreign": P,
        "origin.null": P,
    }
    base.update({key.replace("_", "."): value for key, value in statuses.items()})
    checks = [Check(i, s, f"{i} is {s.value}") for i, s in base.items()]
    return ProbeResult(url="wss://a.example/ws", checks=checks, timings={}, cause=cause)


def by_type(res: ProbeResult, ingress: object = None) -> dict[str, tuple[str, str]]:
    return {v.type: (v.status, v.reason) for v in probe_verdicts(res, ingress)}  # type: ignore[arg-type]


def test_all_checks_passing_is_ready() -> None:
    assert by_type(result()) == {
        "Ready": ("True", "AllChecksPassed"),
        "Reachable": ("True", "HandshakeSucceeded"),
        "Secure": ("True", "CertificateValid"),
        "OriginEnforced": ("True", "UntrustedOriginsRefused"),
    }


def test_ready_names_a_hijackable_socket_before_a_plaintext_one() -> None:
    verdicts = by_type(result(tls_scheme=F, origin_null=F))
    assert verdicts["Ready"] == ("False", "UntrustedOriginAccepted")


def test_accepted_foreign_origin_makes_ready_false_with_the_reason() -> None:
    verdicts = by_type(result(origin_foreign=F))
    assert verdicts["OriginEnforced"] == ("False", "UntrustedOriginAccepted")
    assert verdicts["Ready"] == ("False", "UntrustedOriginAccepted")


def test_handshake_cause_becomes_a_camel_case_reason() -> None:
    verdicts = by_type(
        result("upgrade-not-forwarded", handshake=F, origin_foreign=S, origin_null=S)
    )
    assert verdicts["Reachable"] == ("False", "UpgradeNotForwarded")
    assert verdicts["OriginEnforced"] == ("Unknown", "NotJudged")
    assert verdicts["Ready"] == ("False", "UpgradeNotForwarded")
    assert camel("tls-failure") == "TlsFailure"


def test_plain_ws_allowed_by_spec_is_reported_but_ready() -> None:
    verdicts = by_type(result(tls_scheme=W, tls_certificate=S, tls_expiry=S))
    assert verdicts["Secure"] == ("False", "InsecureSchemeAllowed")
    assert verdicts["Ready"] == ("True", "AllChecksPassed")


def test_expiring_certificate_is_not_secure() -> None:
    assert by_type(result(tls_expiry=F))["Secure"] == ("False", "CertificateExpiring")


def finding(rule: str, severity: Severity) -> Finding:
    return Finding(rule, severity, "prod/chat", f"{rule} message", f"{rule} fix")


def test_ingress_findings_become_ingress_configured() -> None:
    findings = [
        finding("ingress-nginx.proxy-read-timeout", Severity.WARNING),
        finding("ingress-nginx.retired", Severity.INFO),
    ]
    short = ingress_configured(findings, "prod/chat")
    assert (short.status, short.reason) == ("False", "IngressTimeoutsShort")
    assert "ingress-nginx.proxy-read-timeout" in short.message
    assert "retired" not in short.message
    broken = ingress_configured([finding("contour.websocket-routes", Severity.ERROR)], "p/c")
    assert broken.reason == "IngressMisconfigured"
    fine = ingress_configured([finding("ingress-nginx.retired", Severity.INFO)], "p/c")
    assert (fine.status, fine.reason) == ("True", "IngressReady")
    missing = ingress_configured(None, "p/c")
    assert (missing.status, missing.reason) == ("False", "IngressNotFound")
    assert by_type(result(), short)["Ready"] == ("False", "IngressTimeoutsShort")


def test_transition_time_moves_only_with_the_status() -> None:
    first, changed = settle(probe_verdicts(result(), None), [], 1, "2026-01-01T00:00:00Z")
    assert len(changed) == 4
    again, changed = settle(probe_verdicts(result(), None), first, 2, "2026-01-01T00:01:00Z")
    assert changed == []
    assert {c.last_transition_time for c in again} == {"2026-01-01T00:00:00Z"}
    assert {c.observed_generation for c in again} == {2}
    flipped, changed = settle(
        probe_verdicts(result(origin_null=F), None), again, 2, "2026-01-01T00:02:00Z"
    )
    assert {v.type for v in changed} == {"Ready", "OriginEnforced"}
    times = {c.type: c.last_transition_time for c in flipped}
    assert times["OriginEnforced"] == "2026-01-01T00:02:00Z"
    assert times["Reachable"] == "2026-01-01T00:00:00Z"


def test_a_missing_secret_blocks_with_a_clear_reason() -> None:
    verdicts = blocked_verdicts("SecretNotFound", "Secret p/token does not exist", [])
    assert [(v.type, v.status, v.reason) for v in verdicts] == [
        ("Ready", "False", "SecretNotFound"),
        ("Reachable", "Unknown", "SecretNotFound"),
        ("OriginEnforced", "Unknown", "SecretNotFound"),
        ("Secure", "Unknown", "SecretNotFound"),
    ]


def test_suspend_keeps_the_last_probe_and_says_so_on_ready() -> None:
    previous, _ = settle(probe_verdicts(result(origin_null=F), None), [], 1, "t0")
    kept, changed = settle(suspended_verdicts(previous), previous, 2, "t1")
    states = {c.type: (c.status, c.reason) for c in kept}
    assert states["Ready"] == ("Unknown", "Suspended")
    assert states["OriginEnforced"] == ("False", "UntrustedOriginAccepted")
    assert [v.type for v in changed] == ["Ready"]

"""Cause classification from handshake evidence: the sentence a user reads first."""

from __future__ import annotations

import pytest

from wsaudit.probe.classify import classify_refusal, origin_check, scheme_check
from wsaudit.probe.handshake import Failure, HandshakeOutcome
from wsaudit.probe.models import CheckStatus
from wsaudit.probe.origins import OriginCase

ALLOWED = "https://app.example.com"


def answered(
    origin: str | None, status: int, body: bytes = b"", **headers: str
) -> HandshakeOutcome:
    return HandshakeOutcome(
        origin=origin, status=status, body_hint=body, headers=headers, accept_valid=status == 101
    )


def failed(failure: Failure, detail: str = "x", phase: str = "handshake") -> HandshakeOutcome:
    return HandshakeOutcome(
        origin=ALLOWED, failure=failure, failure_detail=detail, failure_phase=phase
    )


@pytest.mark.parametrize(
    ("refused", "others", "cause", "words"),
    [
        (answered(ALLOWED, 426), [], "upgrade-not-forwarded", "proxy_http_version 1.1"),
        (answered(ALLOWED, 505), [], "upgrade-not-forwarded", "HTTP/1.0"),
        (
            answered(ALLOWED, 400, b"Missing Connection header"),
            [],
            "upgrade-not-forwarded",
            "Upgrade/Connection",
        ),
        (
            answered(ALLOWED, 403),
            [answered(None, 403), answered("https://x.example", 403)],
            "upgrade-rejected",
            "CORS/CSRF middleware",
        ),
        (
            answered(ALLOWED, 403),
            [answered(None, 101), answered("https://x.example", 403)],
            "origin-not-allowed",
            "no Origin got 101",
        ),
        (answered(ALLOWED, 403), [answered(None, 400)], "origin-not-allowed", "allow-list"),
        (answered(ALLOWED, 200), [], "upgrade-ignored", "SPA fallback"),
        (answered(ALLOWED, 404), [], "not-found", "Ingress rules"),
        (answered(ALLOWED, 302, location="https://x/ws"), [], "redirect", "https://x/ws"),
        (answered(ALLOWED, 401), [], "auth-required", "tokenSecretRef"),
        (answered(ALLOWED, 503), [], "backend-unavailable", "endpoints"),
        (answered(ALLOWED, 500), [], "server-error", "logs"),
        (answered(ALLOWED, 418), [], "upgrade-refused", "HTTP 418"),
        (failed(Failure.TIMEOUT), [], "timeout", "within 10 s"),
        (failed(Failure.CONNECTION_RESET, phase="tls"), [], "connection-reset", "use ws://"),
        (failed(Failure.CONNECTION_REFUSED), [], "connection-refused", "nothing listens"),
        (failed(Failure.DNS), [], "dns-failure", "DNS record"),
        (failed(Failure.NOT_HTTP), [], "not-http", "wss://"),
    ],
)
def test_refusal_causes(
    refused: HandshakeOutcome, others: list[HandshakeOutcome], cause: str, words: str
) -> None:
    result = classify_refusal(refused, [refused, *others], timeout=10)
    assert result.id == cause
    assert words in result.message


def test_location_header_is_sanitised() -> None:
    refused = answered(ALLOWED, 301, location="https://x/\x1b[31mred")
    assert "\x1b" not in classify_refusal(refused, [], 10).message


def case(check_id: str, origin: str | None) -> OriginCase:
    return OriginCase(check_id, origin, "the bug", "the fix")


def test_accepted_untrusted_origin_fails_with_bug_and_fix() -> None:
    check = origin_check(
        "origin.foreign",
        [(case("origin.foreign", "https://evil.example"), answered("https://evil.example", 101))],
        allowed_upgraded=True,
        require_origin_header=False,
    )
    assert check.status is CheckStatus.FAIL
    assert "accepts https://evil.example: the bug; fix: the fix" in check.message


@pytest.mark.parametrize(
    ("required", "status"), [(False, CheckStatus.WARN), (True, CheckStatus.FAIL)]
)
def test_missing_origin_warns_unless_required(required: bool, status: CheckStatus) -> None:
    check = origin_check(
        "origin.missing",
        [(case("origin.missing", None), answered(None, 101))],
        allowed_upgraded=True,
        require_origin_header=required,
    )
    assert check.status is status


def test_refusal_proves_nothing_when_the_allowed_origin_is_refused_too() -> None:
    attempt = [(case("origin.null", "null"), answered("null", 403))]
    judged = origin_check(
        "origin.null", attempt, allowed_upgraded=True, require_origin_header=False
    )
    unjudged = origin_check(
        "origin.null", attempt, allowed_upgraded=False, require_origin_header=False
    )
    assert judged.status is CheckStatus.PASS
    assert unjudged.status is CheckStatus.SKIP


def test_untried_origin_is_skipped() -> None:
    check = origin_check(
        "origin.null",
        [(case("origin.null", "null"), None)],
        allowed_upgraded=True,
        require_origin_header=False,
    )
    assert check.status is CheckStatus.SKIP


def test_ws_scheme_fails_when_tls_is_required_and_warns_otherwise() -> None:
    assert scheme_check(False, True).status is CheckStatus.FAIL
    assert scheme_check(False, False).status is CheckStatus.WARN
    assert "mixed content" in scheme_check(False, True).message

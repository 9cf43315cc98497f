"""Cause classification from handshake evidence: the sentence a user reads first."""

from __future__ import annotations

import pytest

from wsaudit.probe.after_upgrade import AfterUpgrade, Seen
from wsaudit.probe.classify import (
    Attempt,
    Controls,
    classify_refusal,
    handshake_check,
    origin_check,
    scheme_check,
)
from wsaudit.probe.handshake import Failure, HandshakeOutcome
from wsaudit.probe.models import CheckStatus
from wsaudit.probe.origins import OriginCase

ALLOWED = "https://app.example.com"
OPEN = AfterUpgrade(Seen.SILENCE)


def answered(
    origin: str | None,
    status: int,
    body: bytes = b"",
    after: AfterUpgrade | None = OPEN,
    **headers: str,
) -> HandshakeOutcome:
    return HandshakeOutcome(
        origin=origin,
        status=status,
        body_hint=body,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
        after_upgrade=after if status == 101 else None,
    )


def closed(origin: str | None, code: int | None = 1008) -> HandshakeOutcome:
    return answered(origin, 101, after=AfterUpgrade(Seen.CLOSE, code))


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
            "a handshake without Origin got 101",
        ),
        (answered(ALLOWED, 403), [answered(None, 400)], "origin-not-allowed", "allow-list"),
        (answered(ALLOWED, 200), [], "upgrade-ignored", "SPA fallback"),
        (answered(ALLOWED, 404), [], "route-not-found", "Ingress rules"),
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
        # engine.io answers code 3 to a websocket-transport request that lost its Upgrade
        (
            answered(ALLOWED, 400, b'{"code":3,"message":"Bad request"}'),
            [answered(None, 400, b'{"code":3,"message":"Bad request"}')],
            "upgrade-not-forwarded",
            "Engine.IO error 3",
        ),
        (
            answered(ALLOWED, 400, b'{"code":5,"message":"Unsupported protocol version"}'),
            [],
            "engineio-error",
            "allowEIO3",
        ),
        (
            answered(ALLOWED, 400, b'{"code":1,"message":"Session ID unknown"}'),
            [],
            "engineio-error",
            "sticky sessions",
        ),
        # CORS middleware leaves Vary/Access-Control-* on its refusal
        (
            answered(
                ALLOWED, 403, b"Invalid CORS request", vary="Origin, Access-Control-Request-Method"
            ),
            [answered(None, 101)],
            "cors-middleware",
            "exempt the WebSocket path",
        ),
    ],
)
def test_refusal_causes(
    refused: HandshakeOutcome, others: list[HandshakeOutcome], cause: str, words: str
) -> None:
    result = classify_refusal(refused, [refused, *others], timeout=10)
    assert result.id == cause
    assert words in result.message


def test_a_refusal_also_given_without_upgrade_names_where_the_check_runs() -> None:
    refused = answered(ALLOWED, 403)
    in_front = Controls(plain=answered(ALLOWED, 403, after=None))
    result = classify_refusal(refused, [refused, answered(None, 101)], 10, in_front)
    assert result.id == "origin-not-allowed"
    assert "in front of the WebSocket handler" in result.message
    # The WebSocket layer's own origin check answers a plain GET with 400/426 instead.
    websocket_layer = Controls(plain=answered(ALLOWED, 400, after=None))
    result = classify_refusal(refused, [refused, answered(None, 101)], 10, websocket_layer)
    assert result.id == "origin-not-allowed"
    assert "in front" not in result.message


def test_same_answer_on_a_random_sibling_path_means_no_route_here() -> None:
    refused = answered(ALLOWED, 400, b"Bad Request")
    everywhere = [refused, answered(None, 400), answered("https://x.example", 400)]
    sibling = Controls(sibling=answered(ALLOWED, 400))
    assert classify_refusal(refused, everywhere, 10, sibling).id == "route-not-found"
    # Without the control, or when the sibling path answers otherwise, it is not the path.
    assert classify_refusal(refused, everywhere, 10).id == "upgrade-rejected"
    other = Controls(sibling=answered(ALLOWED, 404))
    assert classify_refusal(refused, everywhere, 10, other).id == "upgrade-rejected"


def test_a_same_origin_check_behind_a_host_rewriting_proxy_is_named() -> None:
    refused = answered(ALLOWED, 403, server="nginx/1.22.1")
    controls = Controls(own_origin=ALLOWED)
    others = [refused, answered(None, 101)]
    cause = classify_refusal(refused, others, 10, controls)
    assert cause.id == "host-rewritten"
    assert "proxy_set_header Host $http_host" in cause.message
    # No proxy in sight, or an allowed origin that is not the endpoint's own: an allow-list.
    direct = answered(ALLOWED, 403)
    assert classify_refusal(direct, [direct, answered(None, 101)], 10, controls).id == (
        "origin-not-allowed"
    )
    elsewhere = Controls(own_origin="https://ws.example.com")
    assert classify_refusal(refused, others, 10, elsewhere).id == "origin-not-allowed"


def test_closed_after_upgrade_causes() -> None:
    refused = closed(ALLOWED, 1005)
    on_sibling_too = Controls(sibling=closed(ALLOWED, 1005))
    assert classify_refusal(refused, [refused], 10, on_sibling_too).id == "route-not-found"
    kept_open = [refused, answered(None, 101)]
    assert classify_refusal(refused, kept_open, 10).id == "origin-not-allowed"
    alone = classify_refusal(closed(ALLOWED, 1008), [], 10)
    assert alone.id == "closed-after-upgrade"
    assert "1008 (policy violation" in alone.message


def test_a_101_no_browser_keeps_is_not_a_handshake() -> None:
    bad = answered(ALLOWED, 101)
    bad.invalid_upgrade = "the 101 has no 'Upgrade: websocket' (Upgrade: 'h2c')"
    cause = classify_refusal(bad, [bad], 10)
    assert cause.id == "invalid-upgrade"
    assert "h2c" in cause.message
    wrong_accept = answered(ALLOWED, 101)
    wrong_accept.invalid_upgrade = "the 101 has a wrong Sec-WebSocket-Accept"
    assert classify_refusal(wrong_accept, [], 10).id == "bad-accept"


def test_allowed_origin_closed_at_once_fails_the_handshake() -> None:
    check, cause = handshake_check([closed(ALLOWED, 1005)], [], 10, ())
    assert check.status is CheckStatus.FAIL
    assert cause is not None
    assert check.details["outcome"] == "closed-after-upgrade"
    healthy, no_cause = handshake_check([answered(ALLOWED, 101)], [], 10, ())
    assert healthy.status is CheckStatus.PASS
    assert no_cause is None


def test_location_header_is_sanitised() -> None:
    refused = answered(ALLOWED, 301, location="https://x/\x1b[31mred")
    assert "\x1b" not in classify_refusal(refused, [], 10).message


def case(check_id: str, origin: str | None) -> OriginCase:
    return OriginCase(check_id, origin, "the bug", "the fix")


def attempt(
    check_id: str, outcome: HandshakeOutcome | None, site: str | None = "cross-site"
) -> Attempt:
    origin = outcome.origin if outcome is not None else "https://evil.example"
    return Attempt(case(check_id, origin), outcome, site)


def judge(check_id: str, *attempts: Attempt, allowed: bool = True, required: bool = False):  # type: ignore[no-untyped-def]
    return origin_check(
        check_id,
        attempts,
        allowed_accepted=allowed,
        require_origin_header=required,
        budget=" within the 10 s deadline",
    )


def test_accepted_untrusted_origin_fails_with_bug_fix_and_reach() -> None:
    check = judge(
        "origin.foreign", attempt("origin.foreign", answered("https://evil.example", 101))
    )
    assert check.status is CheckStatus.FAIL
    assert "accepts https://evil.example (cross-site: any web page" in check.message
    assert check.message.endswith("the bug; fix: the fix")
    assert check.details["origins"] == [
        {
            "origin": "https://evil.example",
            "outcome": "accepted",
            "status": 101,
            "site": "cross-site",
        }
    ]


def test_a_same_site_acceptance_says_samesite_cookies_do_not_help() -> None:
    check = judge(
        "origin.sibling-subdomain",
        attempt("origin.sibling-subdomain", answered("https://x.example.com", 101), "same-site"),
    )
    assert check.status is CheckStatus.WARN
    assert "even SameSite=Lax or Strict" in check.message


@pytest.mark.parametrize(
    ("required", "status"), [(False, CheckStatus.WARN), (True, CheckStatus.FAIL)]
)
def test_missing_origin_warns_unless_required(required: bool, status: CheckStatus) -> None:
    check = judge(
        "origin.missing", attempt("origin.missing", answered(None, 101), None), required=required
    )
    assert check.status is status


def test_refusal_proves_nothing_when_the_allowed_origin_is_refused_too() -> None:
    refused = attempt("origin.null", answered("null", 403))
    assert judge("origin.null", refused).status is CheckStatus.PASS
    assert judge("origin.null", refused, allowed=False).status is CheckStatus.SKIP


def test_untried_origin_is_skipped() -> None:
    assert judge("origin.null", attempt("origin.null", None)).status is CheckStatus.SKIP


def test_a_refusal_after_the_upgrade_warns_and_is_not_a_hijack() -> None:
    check = judge("origin.foreign", attempt("origin.foreign", closed("https://evil.example", 1008)))
    assert check.status is CheckStatus.WARN
    assert "refused only after the upgrade" in check.message
    assert "policy violation" in check.message
    assert check.details["origins"][0]["outcome"] == "closed-after-upgrade"  # type: ignore[index]
    assert check.details["origins"][0]["closeCode"] == 1008  # type: ignore[index]


def test_partly_unanswered_is_partially_judged_not_passed() -> None:
    check = judge(
        "origin.suffix-appended",
        attempt("origin.suffix-appended", answered("https://a.example", 403)),
        attempt("origin.suffix-appended", failed(Failure.TIMEOUT)),
    )
    assert check.status is CheckStatus.WARN
    assert "partially judged: 1 of 2 attempts got no answer within the 10 s deadline" in (
        check.message
    )


def test_ws_scheme_fails_when_tls_is_required_and_warns_otherwise() -> None:
    assert scheme_check(False, True).status is CheckStatus.FAIL
    assert scheme_check(False, False).status is CheckStatus.WARN
    assert "mixed content" in scheme_check(False, True).message


def test_a_404_everywhere_behind_a_proxy_names_both_the_route_and_the_proxy() -> None:
    refused = answered(ALLOWED, 404, server="nginx")
    controls = Controls(plain=answered(ALLOWED, 404, after=None), sibling=answered(ALLOWED, 404))
    cause = classify_refusal(refused, [refused], 10, controls)
    assert cause.id == "route-not-found"
    assert "or the proxy in front drops the Upgrade header" in cause.message
    direct = classify_refusal(answered(ALLOWED, 404), [], 10, controls)
    assert "proxy" not in direct.message


def test_chunked_bodies_relayed_by_a_proxy_are_read_for_signatures() -> None:
    from wsaudit.probe.handshake import _first_chunk

    assert _first_chunk(b'22\r\n{"code":3,"message":"Bad request"}\r\n0\r\n\r\n') == (
        b'{"code":3,"message":"Bad request"}'
    )
    assert _first_chunk(b"zz\r\nxx") == b""
    assert _first_chunk(b"5") == b""


def test_a_redirects_query_never_reaches_the_message() -> None:
    sso = "https://sso.example/authorize?state=s3cr3t&nonce=n0nce#frag"
    cause = classify_refusal(answered(ALLOWED, 302, location=sso), [], 10)
    assert cause.id == "redirect"
    assert "https://sso.example/authorize (query omitted)" in cause.message
    assert "s3cr3t" not in cause.message and "n0nce" not in cause.message

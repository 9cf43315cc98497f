"""What a browser at an Origin sends, and how the probe derives its requests: pure parts."""

from __future__ import annotations

import pytest

from wsaudit.api.conditions import kind_of, origin_enforced, secure
from wsaudit.probe import Check, CheckStatus, ProbeResult
from wsaudit.probe.browser import handshake_headers, site_relation
from wsaudit.probe.engine import case_concurrency, sibling_resource
from wsaudit.probe.target import TargetError, parse_connect_to, parse_target

ENDPOINT = parse_target("wss://app.example.com/ws")


@pytest.mark.parametrize(
    ("origin", "relation"),
    [
        ("https://app.example.com", "same-origin"),
        ("https://www.example.com", "same-site"),
        ("https://wsaudit-attacker.app.example.com", "same-site"),
        ("https://app.example.com:8443", "same-site"),
        ("http://app.example.com", "cross-site"),  # schemeful same-site
        ("https://app-example.com", "cross-site"),
        ("https://app.example.com.wsaudit-attacker.example", "cross-site"),
        ("https://app.example.com`.wsaudit-attacker.example", "cross-site"),
        ("null", "cross-site"),
        (None, None),
    ],
)
def test_site_relation_is_computed_as_browsers_do(origin: str | None, relation: str) -> None:
    assert site_relation(origin, ENDPOINT) == relation


def test_public_suffixes_separate_sites() -> None:
    endpoint = parse_target("wss://alice.github.io/ws")
    assert site_relation("https://bob.github.io", endpoint) == "cross-site"


def test_handshakes_carry_chromiums_headers_and_no_fetch_metadata() -> None:
    """As Chromium 156 sends them (tests/integration/test_browser_headers.py measures it)."""
    secure = handshake_headers("https://evil.example", ENDPOINT)
    assert [name for name, _ in secure] == [
        "Connection",
        "Pragma",
        "Cache-Control",
        "User-Agent",
        "Upgrade",
        "Origin",
        "Sec-WebSocket-Version",
        "Accept-Encoding",
        "Accept-Language",
    ]
    assert dict(secure)["Accept-Encoding"] == "gzip, deflate, br, zstd"
    plain = dict(handshake_headers("http://a.example", parse_target("ws://app.example.com/")))
    assert plain["Accept-Encoding"] == "gzip, deflate"
    client = dict(handshake_headers(None, ENDPOINT))
    assert "Origin" not in client


@pytest.mark.parametrize(
    ("url", "resource"),
    [
        ("wss://a.example/chät?room=ü", "/ch%C3%A4t?room=%C3%BC"),
        ("wss://a.example/a%20b", "/a%20b"),  # already encoded: kept
        ("wss://a.example/x`{y}", "/x%60%7By%7D"),
        ("wss://a.example/q?a='b'", "/q?a=%27b%27"),
        ("wss://a.example/a\\b", "/a/b"),
        ("wss://a.example", "/"),
    ],
)
def test_iris_are_percent_encoded_as_browsers_do(url: str, resource: str) -> None:
    assert parse_target(url).resource == resource


@pytest.mark.parametrize("url", ["wss://a.example/\x85", "wss://a.example/a\u2028", "wss://a b"])
def test_control_characters_and_separators_are_refused(url: str) -> None:
    with pytest.raises(TargetError):
        parse_target(url)


def test_connect_to_takes_an_address_with_an_optional_port() -> None:
    assert parse_connect_to("10.0.0.5", 443) == ("10.0.0.5", 443)
    assert parse_connect_to("[fd00::5]:8443", 443) == ("fd00::5", 8443)
    assert parse_connect_to("lb.staging.example:444", 443) == ("lb.staging.example", 444)
    for bad in ("a b", "x/y", "host:0", "host:99999", ""):
        with pytest.raises(TargetError):
            parse_connect_to(bad, 443)


def test_sibling_paths_keep_the_directory_and_the_query() -> None:
    assert sibling_resource("/ws").startswith("/wsaudit-")
    sio = sibling_resource("/socket.io/?EIO=4&transport=websocket")
    assert sio.startswith("/wsaudit-") and sio.endswith("/?EIO=4&transport=websocket")
    nested = sibling_resource("/api/v1/stream")
    assert nested.startswith("/api/v1/wsaudit-")
    assert sibling_resource("/ws") != sibling_resource("/ws")


def test_many_origin_cases_raise_concurrency_up_to_a_bound() -> None:
    assert case_concurrency(12) == 4
    assert case_concurrency(40) == 6
    assert case_concurrency(400) == 8


def test_a_new_tls_check_feeds_secure_without_a_code_change() -> None:
    result = ProbeResult(
        "wss://a/",
        [
            Check("tls.scheme", CheckStatus.PASS, ""),
            Check("tls.ocsp", CheckStatus.FAIL, "revoked"),
        ],
        {},
    )
    verdict = secure(result)
    assert (verdict.status, verdict.reason) == ("False", "TlsCheckFailed")
    assert kind_of("tls.expiry").failure_reason == "CertificateExpiring"


def test_a_probe_error_leaves_origin_enforcement_unknown_not_true() -> None:
    crashed = ProbeResult("wss://a/", [Check("handshake", CheckStatus.FAIL, "x")], {})
    assert origin_enforced(crashed).status == "Unknown"
    assert secure(crashed).status == "Unknown"

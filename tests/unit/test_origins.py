from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsaudit.probe.origins import (
    Origin,
    OriginError,
    bypass_variants,
    parse_origin,
    registrable_domain,
    untrusted_cases,
)


def variants(origin: str) -> dict[str, str | None]:
    """One Origin per check id (the last, for ids with several)."""
    return {case.check_id: case.origin for case in bypass_variants(parse_origin(origin))}


def test_variants_of_a_subdomain_origin_cover_each_classic_bug() -> None:
    assert variants("https://app.example.com") == {
        "origin.suffix-appended": "https://app.example.com.wsaudit-attacker.example",
        "origin.domain-prefixed": "https://wsaudit-attackerexample.com",
        "origin.unescaped-dot": "https://app-example.com",
        "origin.subdomain": "https://wsaudit-attacker.app.example.com",
        "origin.sibling-subdomain": "https://wsaudit-attacker.example.com",
        "origin.special-character": "https://app.example.com$.wsaudit-attacker.example",
        "origin.scheme-downgrade": "http://app.example.com",
        "origin.other-port": "https://app.example.com:8443",
    }


def test_special_characters_are_the_scanners_parser_confusion_probes() -> None:
    special = [
        case.origin
        for case in bypass_variants(parse_origin("https://app.example.com:8443"))
        if case.check_id == "origin.special-character"
    ]
    assert special == [
        "https://app.example.com_.wsaudit-attacker.example:8443",
        "https://app.example.com`.wsaudit-attacker.example:8443",
        "https://app.example.com$.wsaudit-attacker.example:8443",
    ]


def test_a_registrable_domain_itself_has_no_sibling_but_a_subdomain() -> None:
    cases = variants("https://example.com")
    assert "origin.sibling-subdomain" not in cases
    assert cases["origin.subdomain"] == "https://wsaudit-attacker.example.com"


def test_public_suffix_list_finds_the_registrable_domain() -> None:
    assert registrable_domain("app.example.co.uk") == "example.co.uk"
    assert variants("https://app.example.co.uk")["origin.domain-prefixed"] == (
        "https://wsaudit-attackerexample.co.uk"
    )


def test_ports_are_kept_and_http_origins_have_no_downgrade() -> None:
    cases = variants("http://example.com:8443")
    assert "origin.scheme-downgrade" not in cases
    assert "origin.unescaped-dot" not in cases  # no subdomain: no dot to exploit
    assert cases["origin.suffix-appended"] == "http://example.com.wsaudit-attacker.example:8443"
    assert cases["origin.other-port"] == "http://example.com:9443"


def test_ip_origins_get_only_the_variants_that_apply() -> None:
    assert set(variants("https://10.0.0.1")) == {
        "origin.suffix-appended",
        "origin.special-character",
        "origin.scheme-downgrade",
        "origin.other-port",
    }


def test_variants_that_are_themselves_allowed_are_dropped() -> None:
    allowed = [parse_origin("https://app.example.com"), parse_origin("http://app.example.com")]
    cases = untrusted_cases(allowed, [], bypass_checks=True)
    assert all(case.origin not in ("http://app.example.com",) for case in cases)


def test_fixed_cases_come_first_and_bypass_can_be_turned_off() -> None:
    cases = untrusted_cases(
        [parse_origin("https://a.example")], [parse_origin("https://b.example")], False
    )
    assert [c.check_id for c in cases] == [
        "origin.foreign",
        "origin.null",
        "origin.missing",
        "origin.rejected",
    ]
    assert cases[2].origin is None


@pytest.mark.parametrize(
    "value",
    [
        "app.example.com",
        "https://",
        "https://a.example/path",
        "ftp://a.example",
        "null",
        "https://a\x1b.example",
        "https://a.example\x00",
        "https://a\x7f.example",
        "https://a\x85.example",
        "https://a`.example",
    ],
)
def test_invalid_origins_are_refused(value: str) -> None:
    with pytest.raises(OriginError):
        parse_origin(value)


def test_default_ports_are_dropped_like_browsers_do() -> None:
    assert str(parse_origin("https://Example.com:443")) == "https://example.com"


hosts = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,3}\.(com|org|co\.uk|io)", fullmatch=True)


@given(st.sampled_from(["http", "https"]), hosts, st.none() | st.integers(1, 65535))
def test_origin_round_trip_and_variants_never_equal_the_allowed_origin(
    scheme: str, host: str, port: int | None
) -> None:
    origin = Origin(scheme, host, port)
    parsed = parse_origin(str(origin))
    assert parsed.host == host
    assert parsed.effective_port == origin.effective_port
    for case in bypass_variants(parsed):
        assert case.origin != str(parsed)
        assert case.origin is not None
        if case.check_id != "origin.special-character":  # forged on purpose: not a host
            assert parse_origin(case.origin)


@given(st.text(max_size=60))
def test_parse_origin_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(OriginError):
        parse_origin(text)


def test_international_origins_are_sent_as_browsers_serialise_them() -> None:
    assert str(parse_origin("https://bücher.example")) == "https://xn--bcher-kva.example"

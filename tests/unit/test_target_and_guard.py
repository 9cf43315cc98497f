from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsaudit.probe.guard import AddressGuard, GuardError, literal_address, parse_network
from wsaudit.probe.target import TargetError, parse_target


def test_parses_a_wss_url_with_default_port_and_path() -> None:
    target = parse_target("wss://App.Example.com/socket?room=1")
    assert (target.scheme, target.host, target.port) == ("wss", "app.example.com", 443)
    assert target.resource == "/socket?room=1"
    assert target.host_header == "app.example.com"
    assert target.own_origin == "https://app.example.com"


def test_ipv6_and_explicit_port_shape_the_host_header() -> None:
    target = parse_target("ws://[::1]:8080")
    assert target.host == "::1"
    assert target.port == 8080
    assert target.resource == "/"
    assert target.host_header == "[::1]:8080"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com/ws", "use wss:// for https"),
        ("example.com/ws", "unsupported scheme"),
        ("wss:///path", "no host"),
        ("wss://user:pw@example.com/", "credentials"),
        ("wss://example.com/#frag", "fragment"),
        ("wss://example.com:99999/", "malformed"),
        ("wss://exa mple.com/", "spaces"),
        ("wss://bad_host!.com/", "not a valid hostname"),
        ("", "empty"),
    ],
)
def test_invalid_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        parse_target(url)


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_target_error(text: str) -> None:
    try:
        target = parse_target(text)
    except TargetError:
        return
    assert target.scheme in ("ws", "wss")
    assert target.host
    assert 0 < target.port < 65536


@given(
    st.sampled_from(["ws", "wss"]),
    st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z][a-z0-9]{0,10}){0,3}", fullmatch=True),
    st.integers(1, 65535),
    st.from_regex(r"(/[a-zA-Z0-9_.-]{0,8}){0,3}", fullmatch=True),
)
def test_valid_urls_round_trip(scheme: str, host: str, port: int, path: str) -> None:
    target = parse_target(f"{scheme}://{host}:{port}{path}")
    assert (target.scheme, target.host, target.port) == (scheme, host, port)
    assert target.resource == (path or "/")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0xa9fea9fe", "169.254.169.254"),
        ("2852039166", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("::ffff:169.254.169.254", "::ffff:a9fe:a9fe"),
        ("example.com", None),
        ("deadbeef.example", None),
    ],
)
def test_literal_addresses_decode_legacy_spellings(host: str, expected: str | None) -> None:
    address = literal_address(host)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "::",
        "::ffff:169.254.169.254",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "fd00:ec2::254",
        "100.100.100.200",
        "224.0.0.1",
    ],
)
def test_default_guard_refuses_node_and_metadata_addresses(address: str) -> None:
    assert AddressGuard().refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.1", "172.16.0.1", "93.184.216.34"])
def test_default_guard_allows_cluster_and_public_addresses(address: str) -> None:
    assert AddressGuard().refusal(ipaddress.ip_address(address)) is None


def test_allow_private_lifts_defaults_but_keeps_configured_denials() -> None:
    guard = AddressGuard(allow_private=True, denied=(parse_network("10.1.0.0/16"),))
    assert guard.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert "10.1.0.0/16" in (guard.refusal(ipaddress.ip_address("10.1.2.3")) or "")
    assert "10.1.0.0/16" in (guard.refusal(ipaddress.ip_address("::ffff:10.1.2.3")) or "")


def test_one_refused_address_refuses_the_whole_host() -> None:
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("169.254.169.254")]
    with pytest.raises(GuardError, match=r"169\.254\.169\.254 is link-local"):
        AddressGuard().check_all(addresses)


def test_bad_cidr_is_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/99' is not a CIDR"):
        parse_network("10.0.0.0/99")


@given(st.integers(0, 2**24 - 1))
def test_every_loopback_spelling_is_refused(offset: int) -> None:
    address = ipaddress.IPv4Address(int(ipaddress.IPv4Address("127.0.0.0")) + offset)
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    guard = AddressGuard()
    assert guard.refusal(address)
    assert guard.refusal(mapped)
    decoded = literal_address(hex(int(address)))
    assert decoded == address

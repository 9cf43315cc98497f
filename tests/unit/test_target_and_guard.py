from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsaudit.probe.guard import (
    AddressGuard,
    GuardError,
    embedded_ipv4,
    literal_address,
    parse_network,
)
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


# Issue 12: every spelling of loopback, link-local and cloud metadata, as a URL literal and
# as a DNS answer, is refused; a --deny-cidr sees the IPv4 inside the IPv6 the same way.
_SPELLINGS = {
    "loopback": (
        "127.0.0.1",
        "2130706433",  # decimal
        "017700000001",  # octal
        "0177.0.0.1",
        "0x7f000001",  # hex
        "0X7F.0.0.1",
        "0x7f.1",
        "127.1",  # short forms
        "127.0.1",
        "127.0.0.1.",  # trailing dot
        "0x7f000001.",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:7f00:1",
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:0:127.0.0.1",  # SIIT / IPv4-translated
        "64:ff9b::127.0.0.1",  # NAT64 well-known
        "64:ff9b:1::7f00:1",  # NAT64 local-use, IPv4 in the last 32 bits
        "64:ff9b:1:7f00:0:100::",  # NAT64 local-use /48 (RFC 6052 layout)
        "64:ff9b:1:7f:0:1::",  # NAT64 local-use /56
        "2002:7f00:1::",  # 6to4
        "2002:7f00:1:1234:5678::1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo client 127.0.0.1 (inverted)
        "2001:0:7f00:1::1",  # Teredo server 127.0.0.1
        "::ffff:127.0.0.1%eth0",  # zone ids
        "::1%1",
    ),
    "link-local": (
        "169.254.0.1",
        "2851995649",
        "0251.0376.0.1",
        "0xa9fe0001",
        "169.254.1",
        "169.254.0.1.",
        "fe80::1",
        "fe80::1%eth0",
        "::ffff:169.254.0.1",
        "::169.254.0.1",
        "::ffff:0:169.254.0.1",
        "64:ff9b::169.254.0.1",
        "64:ff9b:1::a9fe:1",
        "2002:a9fe:1::",
        "2001:0:4136:e378:8000:63bf:5601:fffe",
        "2001:0:a9fe:1::",
    ),
    "metadata": (
        "169.254.169.254",
        "2852039166",
        "025177524776",
        "0251.0376.0251.0376",
        "0xa9fea9fe",
        "0xa9.0xfe.0xa9.0xfe",
        "169.254.43518",
        "169.16689662",
        "169.254.169.254.",
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "::169.254.169.254",
        "::ffff:0:169.254.169.254",
        "64:ff9b::169.254.169.254",
        "64:ff9b:1::a9fe:a9fe",
        "64:ff9b:1:a9fe:a9:fe00::",
        "2002:a9fe:a9fe::",
        "2002:a9fe:a9fe::1",
        "2001:0:4136:e378:8000:63bf:5601:5601",
        "2001:0:a9fe:a9fe::",
        "fd00:ec2::254",
        "fd00:ec2::254%eth0",
        "100.100.100.200",
    ),
}
_ALL_SPELLINGS = [(kind, host) for kind, hosts in _SPELLINGS.items() for host in hosts]


@pytest.mark.parametrize(("kind", "host"), _ALL_SPELLINGS)
def test_every_spelling_is_refused_as_a_literal(kind: str, host: str) -> None:
    address = literal_address(host)
    assert address is not None, f"{host} ({kind}) was not decoded as a literal"
    reason = AddressGuard().refusal(address)
    assert reason is not None, f"{host} ({kind}) was allowed"
    with pytest.raises(GuardError, match="refused to probe"):
        AddressGuard().check_all([address])


@pytest.mark.parametrize(("kind", "host"), [(k, h) for k, h in _ALL_SPELLINGS if ":" in h])
def test_every_ipv6_spelling_is_refused_as_a_dns_answer(kind: str, host: str) -> None:
    # A DNS answer carries no zone id; resolve() drops any the resolver adds.
    answer = ipaddress.ip_address(host.split("%", 1)[0])
    with pytest.raises(GuardError, match="refused to probe"):
        AddressGuard().check_all([ipaddress.ip_address("93.184.216.34"), answer])


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("2002:c0a8:101::1", "192.168.1.1"),
        ("64:ff9b::192.168.1.1", "192.168.1.1"),
        ("64:ff9b:1::c0a8:101", "192.168.1.1"),
        ("::ffff:0:192.168.1.1", "192.168.1.1"),
        ("::192.168.1.1", "192.168.1.1"),
        ("2001:0:c0a8:101::", "192.168.1.1"),
        ("2001:0:4136:e378:8000:63bf:3f57:fefe", "192.168.1.1"),
    ],
)
def test_deny_cidr_sees_the_embedded_ipv4(address: str, inner: str) -> None:
    guard = AddressGuard(allow_private=True, denied=(parse_network("192.168.0.0/16"),))
    reason = guard.refusal(ipaddress.ip_address(address))
    assert reason is not None
    assert f"carries {inner}" in reason
    assert "192.168.0.0/16" in reason


@pytest.mark.parametrize(
    "address",
    [
        "2002:5db8:d822::1",  # 6to4 of a public address
        "2001:0:5db8:d822:0:0:a247:277b",  # Teredo: public server and client
        "64:ff9b::93.184.216.34",
        "2606:4700::6810:84e5",  # ordinary global IPv6
        "fd12:3456::1",  # a cluster's ULA pod network
    ],
)
def test_embedded_public_addresses_are_allowed(address: str) -> None:
    assert AddressGuard().refusal(ipaddress.ip_address(address)) is None


@given(st.integers(0, 2**32 - 1))
def test_every_embedding_carries_the_same_ipv4(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    forms = [
        ipaddress.IPv6Address(f"::ffff:{v4}"),
        ipaddress.IPv6Address(f"::ffff:0:{v4}"),
        ipaddress.IPv6Address(f"64:ff9b::{v4}"),
        ipaddress.IPv6Address(f"64:ff9b:1::{v4}"),
        ipaddress.IPv6Address((0x2002 << 112) | (value << 80)),
        ipaddress.IPv6Address((0x20010000 << 96) | (value << 64)),
        ipaddress.IPv6Address((0x20010000 << 96) | (value ^ 0xFFFFFFFF)),
    ]
    for form in forms:
        assert v4 in embedded_ipv4(form), form

"""Real WebSocket servers on loopback, each with an origin policy found in real code."""

from __future__ import annotations

import pytest

from support.servers import ALLOWED, websocket_server
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, ProbeResult, probe

pytestmark = pytest.mark.integration
GUARD = AddressGuard(allow_private=True)

ALL_CASES = {
    "origin.sibling-subdomain",
    "origin.special-character",
    "origin.foreign",
    "origin.null",
    "origin.missing",
    "origin.suffix-appended",
    "origin.domain-prefixed",
    "origin.unescaped-dot",
    "origin.subdomain",
    "origin.scheme-downgrade",
    "origin.other-port",
}


def not_passing(result: ProbeResult) -> dict[str, CheckStatus]:
    return {
        c.id: c.status
        for c in result.checks
        if c.id.startswith("origin.") and c.status is not CheckStatus.PASS
    }


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("strict", {}),
        (
            "none",
            dict.fromkeys(ALL_CASES, CheckStatus.FAIL)
            | {
                "origin.missing": CheckStatus.WARN,
                "origin.subdomain": CheckStatus.WARN,
                "origin.sibling-subdomain": CheckStatus.WARN,
            },
        ),
        (
            "prefix",
            {
                "origin.suffix-appended": CheckStatus.FAIL,
                "origin.special-character": CheckStatus.FAIL,
                "origin.other-port": CheckStatus.FAIL,
            },
        ),
        (
            "suffix",
            {
                "origin.domain-prefixed": CheckStatus.FAIL,
                "origin.unescaped-dot": CheckStatus.FAIL,
                "origin.subdomain": CheckStatus.WARN,
                "origin.sibling-subdomain": CheckStatus.WARN,
                "origin.scheme-downgrade": CheckStatus.FAIL,
            },
        ),
        (
            "regex",
            {
                "origin.suffix-appended": CheckStatus.FAIL,
                "origin.unescaped-dot": CheckStatus.FAIL,
                "origin.special-character": CheckStatus.FAIL,
                "origin.other-port": CheckStatus.FAIL,
            },
        ),
        # https://[a-z0-9-]+\.example\.com: every subdomain of the registrable domain
        (
            "any-subdomain",
            {"origin.sibling-subdomain": CheckStatus.WARN},
        ),
        # the host read with a pattern that stops at the first unexpected character
        (
            "lax-host",
            {
                "origin.special-character": CheckStatus.FAIL,
                "origin.other-port": CheckStatus.FAIL,
            },
        ),
        ("null", {"origin.null": CheckStatus.FAIL}),
        (
            "host-only",
            {"origin.scheme-downgrade": CheckStatus.FAIL, "origin.other-port": CheckStatus.FAIL},
        ),
        ("missing-ok", {"origin.missing": CheckStatus.WARN}),
    ],
)
async def test_each_origin_bug_is_caught_by_its_own_check(
    policy: str, expected: dict[str, CheckStatus]
) -> None:
    async with websocket_server(policy) as server:
        result = await probe(
            ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,), timeout=5), GUARD
        )
    assert result.check("handshake").status is CheckStatus.PASS  # type: ignore[union-attr]
    assert not_passing(result) == expected
    assert {c.id for c in result.checks} >= ALL_CASES | {"tls.scheme", "handshake"}


async def test_accepted_origin_message_names_the_bug_and_the_fix() -> None:
    async with websocket_server("prefix") as server:
        result = await probe(ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,)), GUARD)
    check = result.check("origin.suffix-appended")
    assert check is not None
    assert "https://app.example.com.wsaudit-attacker.example" in check.message
    assert "prefix" in check.message
    assert "exact allow-list" in check.message


async def test_require_origin_turns_missing_origin_into_a_failure() -> None:
    async with websocket_server("missing-ok") as server:
        config = ProbeConfig(
            url=server.url(), allowed_origins=(ALLOWED,), require_origin_header=True
        )
        result = await probe(config, GUARD)
    assert result.check("origin.missing").status is CheckStatus.FAIL  # type: ignore[union-attr]
    assert result.failed


async def test_explicitly_rejected_origin_that_is_accepted_fails() -> None:
    async with websocket_server(lambda o: o in (ALLOWED, "https://partner.example")) as server:
        result = await probe(
            ProbeConfig(
                url=server.url(),
                allowed_origins=(ALLOWED,),
                rejected_origins=("https://partner.example", "https://other.example"),
                bypass_checks=False,
            ),
            GUARD,
        )
    check = result.check("origin.rejected")
    assert check is not None
    assert check.status is CheckStatus.FAIL
    assert "https://partner.example" in check.message
    assert not any(c.id == "origin.suffix-appended" for c in result.checks)


async def test_reject_all_server_is_a_refused_upgrade_not_an_origin_verdict() -> None:
    async with websocket_server("reject-all") as server:
        result = await probe(ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,)), GUARD)
    assert result.cause == "upgrade-rejected"
    handshake = result.check("handshake")
    assert handshake is not None
    assert "every Origin" in handshake.message
    assert "403" in handshake.message
    assert all(c.status is CheckStatus.SKIP for c in result.checks if c.id.startswith("origin."))


async def test_allowed_origin_missing_from_allow_list_is_named() -> None:
    async with websocket_server(lambda o: o != ALLOWED) as server:
        result = await probe(ProbeConfig(url=server.url(), allowed_origins=(ALLOWED,)), GUARD)
    assert result.cause == "origin-not-allowed"
    assert ALLOWED in result.check("handshake").message  # type: ignore[union-attr]


async def test_several_allowed_origins_share_one_check_per_variant() -> None:
    second = "https://admin.example.org"
    async with websocket_server(lambda o: o in (ALLOWED, second)) as server:
        result = await probe(
            ProbeConfig(url=server.url(), allowed_origins=(ALLOWED, second)), GUARD
        )
    ids = [c.id for c in result.checks]
    assert len(ids) == len(set(ids))
    check = result.check("origin.suffix-appended")
    assert check is not None
    assert check.status is CheckStatus.PASS
    assert len(check.details["origins"]) == 2

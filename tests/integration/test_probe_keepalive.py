"""Untrusted-Origin cases over kept-alive connections (probe/cases.py): every verdict is the
one new connections get, against servers that keep connections open after a refusal, and
against servers that keep state per connection, which HTTP does not allow but which exist.

The reference for each Origin policy is the `websockets` server of support/servers.py,
which closes the connection after every refusal, so that each case there has a connection
of its own.
"""

from __future__ import annotations

import pytest

from support.keepalive import BEHAVIOURS, INDEPENDENT, keepalive_server
from support.servers import ALLOWED, POLICIES, websocket_server
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, ProbeResult, probe

pytestmark = pytest.mark.integration
GUARD = AddressGuard(allow_private=True)


def origin_verdicts(result: ProbeResult) -> dict[str, CheckStatus]:
    return {c.id: c.status for c in result.checks if c.id.startswith(("origin.", "handshake"))}


async def _probe(url: str) -> ProbeResult:
    return await probe(ProbeConfig(url=url, allowed_origins=(ALLOWED,), timeout=10), GUARD)


async def _reference(policy: str) -> dict[str, CheckStatus]:
    async with websocket_server(policy) as server:
        return origin_verdicts(await _probe(server.url(path="/ws")))


POLICIES_WITH_ALLOWED = [p for p in POLICIES if POLICIES[p](ALLOWED)]


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("policy", POLICIES_WITH_ALLOWED)
async def test_verdicts_equal_new_connections(policy: str, behaviour: str) -> None:
    expected = await _reference(policy)
    async with keepalive_server(policy, behaviour) as server:
        result = await _probe(server.running.url(path="/ws"))
    assert origin_verdicts(result) == expected


async def test_refusals_share_connections() -> None:
    """A strict server that keeps connections open: the cases go over a few connections
    (one per case in flight), not one each."""
    async with keepalive_server("strict", INDEPENDENT) as server:
        result = await _probe(server.running.url(path="/ws"))
    cases = sum(
        len(c.details.get("origins", ())) for c in result.checks if c.id.startswith("origin.")
    )
    assert all(status is CheckStatus.PASS for status in origin_verdicts(result).values())
    assert cases >= 10
    # The allowed Origin, then at most one connection per case in flight (4).
    assert server.connections <= 1 + 4
    assert server.requests == 1 + cases + server.connections - 1  # each kept one proven once


async def test_refused_allowed_origin_reuses_nothing() -> None:
    """Without an accepted allowed Origin there is no proof: a connection per case."""
    async with keepalive_server("reject-all", INDEPENDENT) as server:
        result = await _probe(server.running.url(path="/ws"))
    cases = sum(
        len(c.details.get("origins", ())) for c in result.checks if c.id.startswith("origin.")
    )
    assert server.connections == server.requests
    assert server.connections >= 1 + cases

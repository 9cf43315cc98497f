"""Issue 12: DNS rebinding against `wsaudit probe`, in a network namespace of the test's own.

The attacker's name server answers a name with an allowed address and then, TTL 0, with a
refused one (loopback, cloud metadata, an IPv6 form that carries either), or the other way
round. The namespace really has every refused address, each with a listener, so a probe
that checked one answer and connected after another would be seen there. The probe is the
CLI as CI runs it, resolving through the namespace's /etc/resolv.conf."""

from __future__ import annotations

import concurrent.futures
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from support.netns import (
    ALLOWED_ADDRESS,
    PORT,
    IsolatedNetwork,
    Scenarios,
    isolated_network,
    unavailable,
)
from support.servers import ALLOWED

pytestmark = pytest.mark.integration

# What the name turns into after (or before) the allowed answer: each reaches a listener.
REFUSED = {
    "loopback": "127.0.0.1",
    "ipv6-loopback": "::1",
    "metadata": "169.254.169.254",
    "mapped-metadata": "::ffff:169.254.169.254",
    "aws-ipv6-metadata": "fd00:ec2::254",
    "6to4-metadata": "2002:a9fe:a9fe::",
    "nat64-loopback": "64:ff9b::7f00:1",
}
REFUSED_ROUNDS = 5  # probes after (or before) the allowed one, each a fresh lookup
ALLOWED_ROUNDS = 2


def name(order: str, form: str) -> str:
    return f"{order}-{form}.rebind.test"


def scenarios() -> Scenarios:
    allowed = [ALLOWED_ADDRESS]
    found: Scenarios = {}
    for form, refused in REFUSED.items():
        found[name("allowed-first", form)] = {"first": allowed, "then": [refused]}
        found[name("refused-first", form)] = {"first": [refused], "then": allowed}
    return found


@pytest.fixture(scope="module")
def network() -> Iterator[IsolatedNetwork]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with isolated_network(scenarios()) as running:
        yield running


def probe_rounds(network: IsolatedNetwork, host: str, rounds: int) -> list[dict[str, Any]]:
    """`wsaudit probe` `rounds` times in a row, each a new process and a new lookup."""
    reports = []
    for _ in range(rounds):
        done = network.run(
            sys.executable,
            "-m",
            "wsaudit.cli",
            "probe",
            f"ws://{host}:{PORT}/ws",
            "--allowed-origin",
            ALLOWED,
            "--no-bypass",
            "--tls-optional",
            "--timeout",
            "3",
            "--output",
            "json",
        )
        assert done.returncode in (0, 1), done.stderr
        reports.append(json.loads(done.stdout))
    return reports


def handshake_status(report: dict[str, Any]) -> str:
    return next(c["status"] for c in report["checks"] if c["id"] == "handshake")


@pytest.mark.parametrize("form", REFUSED)
def test_a_name_that_rebinds_never_reaches_the_refused_address(
    network: IsolatedNetwork, form: str
) -> None:
    first, then = name("allowed-first", form), name("refused-first", form)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        allowed_first = pool.submit(probe_rounds, network, first, 1 + REFUSED_ROUNDS)
        refused_first = pool.submit(probe_rounds, network, then, 1 + ALLOWED_ROUNDS)
        reports = {first: allowed_first.result(), then: refused_first.result()}

    # Every refused address of the namespace: not one connection, in any test so far.
    assert network.events("accept") == []
    expected = {
        first: ["pass"] + ["target-refused"] * REFUSED_ROUNDS,
        then: ["target-refused"] + ["pass"] * ALLOWED_ROUNDS,
    }
    for host, rounds in reports.items():
        seen = [r["cause"] or handshake_status(r) for r in rounds]
        assert seen == expected[host], (host, [r["checks"][:3] for r in rounds])
        for report in rounds:
            if report["cause"] == "target-refused":
                assert report["address"] is None
    # Each answer came from the test's name server, through the namespace's resolv.conf,
    # with TTL 0, and the allowed answer really was connected to.
    queried = {e["name"] for e in network.events("query")}
    assert {first, then} <= queried
    hosts = [e["host"] for e in network.events("handshake")]
    assert f"{first}:{PORT}" in hosts
    assert f"{then}:{PORT}" in hosts

"""The framework battery: wsaudit's verdicts against real servers written with popular
frameworks (tests/frameworks/), Origin by Origin, against the tests' own ground truth.

For each scenario, three tests share one server process:
- the ground truth (tests/support/groundtruth.py, never wsaudit) agrees with what the
  framework's source says (the scenario's `expect`), for an Origin list of the tests' own;
- wsaudit's outcome for every Origin it tried equals the ground truth's for that Origin;
- wsaudit's `handshake` status, `cause` and origin findings equal `expect`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from publicsuffixlist import PublicSuffixList
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from support.frameworks import SCENARIOS, Running, running
from support.groundtruth import Exchange, Measured, measure, measure_all
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, ProbeResult, probe

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

FIXED_CASES = ("origin.foreign", "origin.null", "origin.missing")
# wsaudit's causes for a handshake that got no HTTP answer at all.
TRANSPORT_CAUSES = {
    "tls-failure",
    "timeout",
    "connection-refused",
    "connection-reset",
    "dns-failure",
    "not-http",
    "headers-too-large",
    "target-refused",
}


# --- Fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module", params=SCENARIOS, ids=[s.id for s in SCENARIOS])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """One server process (and nginx) per scenario, shared by its three tests."""
    workdir = tmp_path_factory.mktemp("frameworks")
    with running(request.param, workdir) as server:
        yield server


_probes: dict[str, ProbeResult] = {}


async def wsaudit(server: Running) -> ProbeResult:
    """wsaudit's engine as tests/frameworks/README.md runs it (once per scenario)."""
    key = server.scenario.id
    if key not in _probes:
        config = ProbeConfig(
            url=server.url,
            allowed_origins=(server.allowed_origin,),
            connect_to=f"127.0.0.1:{server.port}",
            timeout=10,
        )
        _probes[key] = await probe(config, AddressGuard(allow_private=True))
    return _probes[key]


async def truth(server: Running, origins: list[str | None]) -> dict[str | None, Measured]:
    return await measure_all(
        origins,
        port=server.port,
        host=server.host,
        path=server.scenario.path,
        exchange=cast(Exchange, server.scenario.exchange),
    )


# --- The tests' own Origin cases (from docs/probe.md, independent of wsaudit) ----------


def own_cases(allowed: str) -> dict[str, str | None]:
    """One Origin per check id, derived from the allowed origin as docs/probe.md describes
    each case, with attacker names of the tests' own."""
    parts = urlsplit(allowed)
    scheme, host = parts.scheme, parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    effective = parts.port or (443 if scheme == "https" else 80)
    cases: dict[str, str | None] = {
        "origin.foreign": "https://groundtruth-unrelated.example",
        "origin.null": "null",
        "origin.missing": None,
        "origin.suffix-appended": f"{scheme}://{host}.groundtruth-attacker.example{port}",
    }
    domain = PublicSuffixList().privatesuffix(host)
    if domain:
        cases["origin.domain-prefixed"] = f"{scheme}://groundtruth{domain}{port}"
        subdomain = host[: -len(domain)].rstrip(".")
        if subdomain:
            cases["origin.unescaped-dot"] = f"{scheme}://{subdomain}-{domain}{port}"
        cases["origin.subdomain"] = f"{scheme}://groundtruth.{host}{port}"
        if subdomain:
            cases["origin.sibling-subdomain"] = f"{scheme}://groundtruth.{domain}{port}"
    cases["origin.special-character"] = f"{scheme}://{host}_.groundtruth-attacker.example{port}"
    if scheme == "https":
        cases["origin.scheme-downgrade"] = f"http://{host}{port}"
    cases["origin.other-port"] = f"{scheme}://{host}:{8443 if effective != 8443 else 9443}"
    return cases


NOT_ACCEPTED = "not accepted"  # the allowed Origin of a failing handshake: any failure


def expected_outcome(expect: dict[str, Any], check_id: str) -> str:
    """What the framework's source says an Origin of this check id gets."""
    if check_id == "handshake":
        return "accepted" if expect["handshake"] == "pass" else NOT_ACCEPTED
    if check_id in expect.get("accepted", []):
        return "accepted"
    if check_id in expect.get("closed-after-upgrade", []):
        return "closed-after-upgrade"
    return "refused"


def agrees(outcome: str, expected: str) -> bool:
    return outcome != "accepted" if expected == NOT_ACCEPTED else outcome == expected


# --- wsaudit's table ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    check: str
    origin: str | None
    outcome: str  # wsaudit's outcome for this Origin ("<missing>" when it reports none)
    status: int | None
    site: str | None


def _allowed_rows(result: ProbeResult, allowed: str) -> list[Row]:
    check = result.check("handshake")
    assert check is not None, "wsaudit reported no handshake check"
    details = check.details
    listed = details.get("origins")
    if isinstance(listed, list) and listed and all(isinstance(o, dict) for o in listed):
        return [
            Row(
                "handshake",
                o.get("origin"),
                str(o.get("outcome", "<missing>")),
                o.get("status"),
                o.get("site"),
            )
            for o in listed
        ]
    if "outcome" in details:
        outcome = str(details["outcome"])
    elif check.status in (CheckStatus.PASS, CheckStatus.WARN):
        outcome = "accepted"
    elif result.cause in TRANSPORT_CAUSES:
        outcome = "no-answer"
    else:
        outcome = "refused" if details.get("status") != 101 else "closed-after-upgrade"
    return [
        Row(
            "handshake",
            details.get("origin", allowed),
            outcome,
            details.get("status"),
            details.get("site"),
        )
    ]


def wsaudit_rows(result: ProbeResult, allowed: str) -> list[Row]:
    rows = _allowed_rows(result, allowed)
    for check in result.checks:
        if not check.id.startswith("origin."):
            continue
        for tried in check.details.get("origins", []):
            record = tried if isinstance(tried, dict) else {"origin": tried}
            rows.append(
                Row(
                    check.id,
                    record.get("origin"),
                    str(record.get("outcome", "<missing>")),
                    record.get("status"),
                    record.get("site"),
                )
            )
    return rows


def table(rows: list[Row], measured: dict[str | None, Measured], expect: dict[str, Any]) -> str:
    header = ("check", "origin", "wsaudit", "ground truth", "expected", "site wsaudit/browser")
    lines = [header]
    for row in rows:
        gt = measured[row.origin]
        lines.append(
            (
                row.check,
                "(none)" if row.origin is None else row.origin,
                row.outcome + (f" {row.status}" if row.status is not None else ""),
                gt.describe(),
                expected_outcome(expect, row.check),
                f"{row.site}/{gt.site}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    )


# --- The battery ----------------------------------------------------------------------


async def test_ground_truth_matches_framework_source(served: Running) -> None:
    """What the framework does, measured without wsaudit, is what its source says."""
    scenario = served.scenario
    cases: dict[str, str | None] = {"handshake": served.allowed_origin}
    cases.update(own_cases(served.allowed_origin))
    listed = set(scenario.expect.get("accepted", [])) | set(
        scenario.expect.get("closed-after-upgrade", [])
    )
    assert listed <= set(cases), f"expect names cases that do not apply: {listed - set(cases)}"
    measured = await truth(served, list(cases.values()))
    lines = [
        f"{check:24} {origin!s:52} {measured[origin].describe():40} "
        f"expected {expected_outcome(scenario.expect, check)}"
        for check, origin in cases.items()
    ]
    wrong = [
        check
        for check, origin in cases.items()
        if not agrees(measured[origin].outcome, expected_outcome(scenario.expect, check))
    ]
    assert not wrong, (
        f"{scenario.id}: the framework no longer behaves as {scenario.source!r} says "
        f"for {wrong}:\n" + "\n".join(lines) + f"\nserver output:\n{served.output()[-2000:]}"
    )


async def test_wsaudit_agrees_with_ground_truth(served: Running) -> None:
    """Origin by Origin, wsaudit's outcome is what a browser at that Origin really gets."""
    scenario = served.scenario
    result = await wsaudit(served)
    rows = wsaudit_rows(result, served.allowed_origin)
    measured = await truth(served, [row.origin for row in rows])
    report = table(rows, measured, scenario.expect)
    tried = {row.check for row in rows}
    needed = set(FIXED_CASES) | set(scenario.expect.get("accepted", []))
    assert needed <= tried, f"{scenario.id}: wsaudit did not try {needed - tried}:\n{report}"
    differing = [row for row in rows if row.outcome != measured[row.origin].outcome]
    assert not differing, (
        f"{scenario.id}: wsaudit's outcome differs from the ground truth for "
        f"{len(differing)} of {len(rows)} Origins (cause {result.cause}):\n{report}"
    )


async def test_wsaudit_verdict_matches_framework_source(served: Running) -> None:
    """wsaudit's handshake status and cause, and which origin checks find something."""
    scenario, expect = served.scenario, served.scenario.expect
    result = await wsaudit(served)
    handshake = result.check("handshake")
    assert handshake is not None
    summary = "\n".join(f"{c.id:24} {c.status.value:5} {c.message}" for c in result.checks)
    assert (handshake.status.value, result.cause) == (expect["handshake"], expect.get("cause")), (
        f"{scenario.id}: expected handshake {expect['handshake']} with cause "
        f"{expect.get('cause')}, wsaudit said:\n{summary}"
    )
    assert expect.get("message", "") in handshake.message, summary
    findings = {
        c.id
        for c in result.checks
        if c.id.startswith("origin.") and c.status in (CheckStatus.FAIL, CheckStatus.WARN)
    }
    closed = set(expect.get("closed-after-upgrade", []))
    assert findings - closed == set(expect.get("accepted", [])), (
        f"{scenario.id}: the origin checks that fail or warn should be exactly the accepted "
        f"ones {sorted(expect.get('accepted', []))}:\n{summary}"
    )


# --- The ground-truth client proves itself ---------------------------------------------

REFUSED = "https://refused.example"
CLOSED = "https://closed.example"
SOCKETIO_REFUSED = "https://sio-refused.example"


@dataclass
class _Local:
    port: int

    @property
    def host(self) -> str:
        return f"app.example.com:{self.port}"


async def _hand_written(connection: ServerConnection) -> None:
    """Echo, or a close 1008 after the 101 for the CLOSED origin; at /socket.io/, a tiny
    Socket.IO v4 server that answers CONNECT with 44 for SOCKETIO_REFUSED."""
    assert connection.request is not None
    origin = connection.request.headers.get("Origin")
    if origin == CLOSED:
        await connection.close(1008, "origin not allowed")
        return
    if connection.request.path.startswith("/socket.io/"):
        await connection.send('0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":5000}')
        async for message in connection:
            if message == "40":
                refused = origin == SOCKETIO_REFUSED
                await connection.send('44{"message":"no"}' if refused else '40{"sid":"x"}')
            elif isinstance(message, str) and message.startswith("42"):
                await connection.send("2")  # an engine.io ping in between
                await connection.send(message)
        return
    async for message in connection:
        await connection.send(message)


def _refuse(connection: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("Origin") == REFUSED:
        return connection.respond(HTTPStatus.FORBIDDEN, "no\n")
    return None


@pytest.fixture
async def hand_written() -> AsyncIterator[_Local]:
    async with serve(_hand_written, "127.0.0.1", 0, process_request=_refuse) as server:
        yield _Local(next(iter(server.sockets)).getsockname()[1])


async def test_ground_truth_client_on_a_hand_written_server(hand_written: _Local) -> None:
    port, host = hand_written.port, hand_written.host
    results = await measure_all(
        ["http://" + host, REFUSED, CLOSED, None], port=port, host=host, path="/ws"
    )
    accepted = results["http://" + host]
    assert (accepted.outcome, accepted.status, accepted.site) == ("accepted", 101, "same-origin")
    # websockets negotiates permessage-deflate, so the echo came back compressed.
    assert accepted.extensions is not None
    assert accepted.extensions.startswith("permessage-deflate")
    assert (results[REFUSED].outcome, results[REFUSED].status) == ("refused", 403)
    closed = results[CLOSED]
    assert (closed.outcome, closed.status, closed.close_code) == (
        "closed-after-upgrade",
        101,
        1008,
    )
    assert (results[None].outcome, results[None].site) == ("accepted", None)

    socketio = await measure_all(
        [REFUSED, SOCKETIO_REFUSED, "https://any.example"],
        port=port,
        host=host,
        path="/socket.io/?EIO=4&transport=websocket",
        exchange="socketio",
    )
    assert socketio[REFUSED].outcome == "refused"
    assert socketio[SOCKETIO_REFUSED].outcome == "closed-after-upgrade"
    assert "44" in socketio[SOCKETIO_REFUSED].detail
    assert socketio["https://any.example"].outcome == "accepted"
    # The echo exchange against the Socket.IO path gets the open packet, never its token.
    wrong_exchange = await measure(
        port=port, host=host, path="/socket.io/?EIO=4&transport=websocket", origin=None
    )
    assert wrong_exchange.outcome == "no-answer"


async def test_ground_truth_client_without_an_answer() -> None:
    """A server that accepts TCP and never answers, and a closed port: no-answer."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        result = await measure(
            port=port, host="app.example.com", path="/", origin=None, handshake_seconds=1
        )
        assert (result.outcome, result.detail) == ("no-answer", "timeout")
        assert 1 <= time.monotonic() - started < 3
    finally:
        server.close()
        await server.wait_closed()
    closed_port = await measure(port=port, host="app.example.com", path="/", origin=None)
    assert closed_port.outcome == "no-answer"
    assert "ConnectionRefused" in closed_port.detail


@pytest.mark.parametrize(
    ("origin", "url", "site", "encodings"),
    [
        ("https://app.example.com", "wss://app.example.com/ws", "same-origin", "br, zstd"),
        ("https://www.example.com", "wss://app.example.com/ws", "same-site", "br, zstd"),
        ("http://app.example.com", "wss://app.example.com/ws", "cross-site", "br, zstd"),
        ("https://app.example.com:8443", "wss://app.example.com/ws", "same-site", "br, zstd"),
        ("https://a.github.io", "wss://b.github.io/ws", "cross-site", "br, zstd"),
        ("https://a.example.co.uk", "wss://b.example.co.uk/", "same-site", "br, zstd"),
        ("null", "wss://app.example.com/ws", "cross-site", "br, zstd"),
        ("http://localhost:3000", "ws://localhost:8080/", "same-site", "br, zstd"),
        ("http://127.0.0.1:3000", "ws://127.0.0.1:3000/", "same-origin", "br, zstd"),
        ("http://app.example.com:80", "ws://app.example.com/ws", "same-origin", "deflate"),
        ("https://evil.example", "ws://app.example.com/ws", "cross-site", "deflate"),
    ],
)
def test_browser_request_and_site(origin: str, url: str, site: str, encodings: str) -> None:
    """The site relation as the Fetch spec computes it (schemeful same-site on the
    registrable domain), and the request Chromium sends: no Fetch Metadata on WebSocket
    handshakes, brotli and zstd offered only to secure contexts."""
    from support.groundtruth import browser_request, fetch_site

    assert fetch_site(origin, url) == site
    headers = dict(
        browser_request(host=urlsplit(url).netloc, path="/", origin=origin, key="k", url=url)
    )
    assert headers["Origin"] == origin
    assert headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    assert headers["Accept-Encoding"].endswith(encodings)
    assert not any(name.startswith("Sec-Fetch-") for name in headers)

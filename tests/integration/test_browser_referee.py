"""Headless Chromium referees wsaudit's verdicts, Origin by Origin.

Each server under test sits behind nginx as in production (`wss://app.example.com/<path>`,
tests/support/browser.py). wsaudit probes that endpoint; then, for every Origin it tried
(the `details["origins"]` of its `origin.*` checks), Chromium loads an attacker page at
that Origin and opens the same WebSocket. wsaudit's `outcome` must be `accepted` exactly
when the browser's is, and `closed-after-upgrade` exactly when the browser saw the socket
open and then close. Origins no browser page can have (no Origin at all, names Chromium's
resolver refuses) are skipped and listed.

Servers: the project's own websockets servers with each origin policy of
tests/support/servers.py, one that closes after the upgrade, and every scenario of the
framework battery (tests/support/frameworks.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from support.browser import (
    ALLOWED,
    ANY_SCHEME,
    PAGE_PATH,
    Chromium,
    PageResult,
    SiteCertificate,
    attacker_sites,
    capture_server,
    chromium,
    chromium_resolves,
    ensure_chromium,
    loopback_dns,
    namespaces_available,
    referee,
)
from support.servers import POLICIES, websocket_server
from wsaudit.probe import AddressGuard, ProbeConfig, ProbeResult, probe

frameworks: Any = None
FRAMEWORKS_BROKEN = ""
try:
    from support import frameworks
except ImportError:  # the battery's registry is not there yet
    pass
except Exception as exc:  # a broken framework.json fails those cases, not the module
    FRAMEWORKS_BROKEN = f"tests/support/frameworks.py failed to load: {exc}"

pytestmark = pytest.mark.integration
GUARD = AddressGuard(allow_private=True)
JUDGED = ("accepted", "closed-after-upgrade")


@dataclass(frozen=True)
class Row:
    check: str
    entry: dict[str, Any]  # wsaudit's {"origin", "status", "outcome", "site"}
    browser: PageResult

    @property
    def origin(self) -> str | None:
        origin: str | None = self.entry.get("origin")
        return origin

    @property
    def wsaudit(self) -> str | None:
        outcome: str | None = self.entry.get("outcome")
        return outcome

    @property
    def judged(self) -> bool:
        return self.browser.result != "not-producible"

    @property
    def agrees(self) -> bool:
        return all((self.wsaudit == o) == (self.browser.result == o) for o in JUDGED)

    def line(self) -> str:
        mark = "skip" if not self.judged else ("ok" if self.agrees else "DISAGREE")
        wsaudit = f"{self.wsaudit} (HTTP {self.entry.get('status')}, {self.entry.get('site')})"
        origin = str(self.origin)
        return (
            f"  {mark:8} {self.check:26} {origin:52} wsaudit {wsaudit:44} Chromium {self.browser}"
        )


async def judge(
    browser: Chromium,
    site_cert: SiteCertificate,
    ca_file: Path,
    workdir: Path,
    *,
    backend_port: int,
    path: str = "/",
    allowed: str = ALLOWED,
    exchange: str = "echo",
) -> tuple[list[Row], ProbeResult]:
    """Probes the endpoint behind the nginx front, then lets Chromium try every Origin."""
    with attacker_sites(workdir, site_cert, backend_port) as sites:
        endpoint = sites.endpoint(path)
        result = await probe(
            ProbeConfig(
                url=endpoint,
                allowed_origins=(allowed,),
                connect_to="127.0.0.1:443",
                ca_file=str(ca_file),
                timeout=10,
            ),
            GUARD,
        )
        rows = []
        async with referee(browser) as ref:
            for check in result.checks:
                if not check.id.startswith("origin."):
                    continue
                for entry in check.details.get("origins", []):
                    page = await ref.attack(entry.get("origin"), endpoint, exchange)
                    rows.append(Row(check.id, entry, page))
    return rows, result


def verdict(label: str, rows: list[Row], result: ProbeResult) -> None:
    table = "\n".join(row.line() for row in rows)
    skipped = [f"{row.origin} ({row.browser.detail})" for row in rows if not row.judged]
    handshake = result.check("handshake")
    status = handshake.status.value if handshake else None
    print(f"\n{label}: handshake {status}, cause {result.cause}\n{table}")
    assert any(row.judged for row in rows), f"{label}: no Origin could be judged\n{table}"
    disagreements = [row for row in rows if row.judged and not row.agrees]
    assert not disagreements, (
        f"{label}: wsaudit and Chromium disagree on "
        f"{', '.join(str(row.origin) for row in disagreements)}\n{table}\n"
        f"skipped (no browser page can send them): {skipped}"
    )


# --- the project's own servers -------------------------------------------------------------


@pytest.mark.parametrize("policy", list(POLICIES))
async def test_origin_policy_verdicts_match_chromium(
    policy: str, browser: Chromium, site_cert: SiteCertificate, ca_file: Path, tmp_path: Path
) -> None:
    async with websocket_server(policy) as backend:
        rows, result = await judge(browser, site_cert, ca_file, tmp_path, backend_port=backend.port)
    verdict(f"policy {policy}", rows, result)


@contextlib.asynccontextmanager
async def closes_after_upgrade() -> AsyncIterator[int]:
    """Upgrades every handshake, then closes (1008) unless the Origin is allowed: the check
    done in the handler, after the 101, as many applications do."""

    async def handler(connection: ServerConnection) -> None:
        if connection.request is None or connection.request.headers.get("Origin") != ALLOWED:
            await connection.close(1008, "origin not allowed")
            return
        async for message in connection:
            await connection.send(message)

    async with serve(handler, "127.0.0.1", 0) as server:
        yield next(iter(server.sockets)).getsockname()[1]


async def test_close_after_upgrade_verdicts_match_chromium(
    browser: Chromium, site_cert: SiteCertificate, ca_file: Path, tmp_path: Path
) -> None:
    async with closes_after_upgrade() as port:
        rows, result = await judge(browser, site_cert, ca_file, tmp_path, backend_port=port)
    assert any(row.browser.result == "closed-after-upgrade" for row in rows), [
        row.line() for row in rows
    ]
    verdict("closes after the upgrade", rows, result)


async def test_the_referee_tells_accepted_refused_and_closed_apart(
    browser: Chromium, site_cert: SiteCertificate, tmp_path: Path
) -> None:
    """The harness's own ground truth: pages at the allowed and a foreign Origin against a
    strict server, an open one and one that closes after the upgrade."""
    async with referee(browser) as ref:
        results: dict[str, dict[str, str]] = {}
        for name, server in (
            ("strict", websocket_server("strict")),
            ("none", websocket_server("none")),
            ("closes", closes_after_upgrade()),
        ):
            async with server as backend:
                port = backend if isinstance(backend, int) else backend.port
                with attacker_sites(tmp_path / name, site_cert, port) as sites:
                    results[name] = {
                        origin: (await ref.attack(origin, sites.endpoint("/"))).result
                        for origin in (ALLOWED, "https://wsaudit-foreign.example", "null")
                    }
    foreign, null = "https://wsaudit-foreign.example", "null"
    assert results["strict"] == {ALLOWED: "accepted", foreign: "refused", null: "refused"}
    assert results["none"] == {ALLOWED: "accepted", foreign: "accepted", null: "accepted"}
    assert results["closes"] == {
        ALLOWED: "accepted",
        foreign: "closed-after-upgrade",
        null: "closed-after-upgrade",
    }


# --- what Chromium can produce ---------------------------------------------------------------

RESOLVER_SAMPLES = (
    "app.example.com",
    "wsaudit-attacker.app.example.com",
    "app.example.com_.wsaudit-attacker.example",
    "app.example.com`.wsaudit-attacker.example",
    "app.example.com$.wsaudit-attacker.example",
)


async def test_chromium_resolves_only_the_names_the_harness_calls_producible(
    site_cert: SiteCertificate, tmp_path: Path
) -> None:
    """With real DNS (a mount namespace whose resolv.conf points at a loopback DNS server,
    no --host-resolver-rules), Chromium loads a page exactly at the names that
    `chromium_resolves` accepts, and sends no DNS query for the others."""
    reason = ensure_chromium() or namespaces_available()
    if reason is not None:
        pytest.skip(reason)
    errors: dict[str, str | None] = {}
    with (
        loopback_dns(tmp_path / "dns") as dns,
        capture_server(site_cert),
        chromium(tmp_path / "chromium", site_cert, dns) as browser,
    ):
        async with referee(browser, ANY_SCHEME) as ref:
            for host in RESOLVER_SAMPLES:
                errors[host] = await ref.load(f"https://{host}{PAGE_PATH}")
        queried = set(dns.queried)
    measured = {host: (error, host in queried) for host, error in errors.items()}
    for host, (error, was_queried) in measured.items():
        expected = chromium_resolves(host)
        assert (error is None) == expected, f"{host}: {error}; all: {measured}"
        assert was_queried == expected, f"{host}: queried {was_queried}; all: {measured}"
    print(f"\nChromium with real DNS: {measured}")


# --- the framework battery ---------------------------------------------------------------


def _scenarios() -> list[Any]:
    if FRAMEWORKS_BROKEN:
        return [pytest.param(None, id="registry")]
    if frameworks is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no tests/support/frameworks.py"))]
    return [pytest.param(s, id=s.id) for s in frameworks.SCENARIOS]


@pytest.mark.parametrize("scenario", _scenarios())
async def test_framework_verdicts_match_chromium(
    scenario: Any, browser: Chromium, site_cert: SiteCertificate, ca_file: Path, tmp_path: Path
) -> None:
    if FRAMEWORKS_BROKEN:
        pytest.fail(FRAMEWORKS_BROKEN)
    # Behind the front, the endpoint's own origin is https://app.example.com.
    allowed = ALLOWED if scenario.allowed == "same-origin" else scenario.allowed
    started = time.monotonic()
    with frameworks.running(scenario, tmp_path / "server") as server:
        rows, result = await judge(
            browser,
            site_cert,
            ca_file,
            tmp_path / "front",
            backend_port=server.port,
            path=scenario.path,
            allowed=allowed,
            exchange=scenario.exchange,
        )
    verdict(f"{scenario.id} ({time.monotonic() - started:.1f} s)", rows, result)

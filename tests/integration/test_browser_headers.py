"""What headless Chromium really sends on a WebSocket handshake, and whether wsaudit sends
the same for each Origin.

A raw capture server of the test's own (tests/support/browser.py) answers on 127.0.0.1:80,
:443 and :8443 for every name, plain or TLS: it serves the attacker page and records each
request head byte for byte. Chromium opens `wss://app.example.com/...` from a same-origin,
a same-site and a cross-site page (and from a page at every Origin wsaudit tries), and
`ws://app.example.com/...` from http pages (a non-loopback name, so not a potentially
trustworthy URL). Then wsaudit probes the same capture server, and the headers servers and
WAFs decide on must be Chromium's: Origin, every Sec-Fetch-* (present or absent), Pragma,
Cache-Control and Sec-WebSocket-Extensions. User-Agent, Accept-Language, Accept-Encoding,
Sec-WebSocket-Key and Cookie are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from support.browser import (
    ANY_SCHEME,
    APP_HOST,
    PAGE_PATH,
    CapturedRequest,
    CaptureServer,
    Chromium,
    PageResult,
    SiteCertificate,
    capture_server,
    referee,
)
from wsaudit.probe import AddressGuard, ProbeConfig, probe

pytestmark = pytest.mark.integration
GUARD = AddressGuard(allow_private=True)
CAPTURE = "/wsaudit-capture/"
COMPARED = ("Origin", "Pragma", "Cache-Control", "Sec-WebSocket-Extensions")
FETCH_METADATA = "sec-fetch-"


@dataclass(frozen=True)
class Case:
    allowed: str
    connect_to: str
    relations: dict[str, str]  # page origin -> its relation to the endpoint


CASES = {
    "wss": Case(
        "https://app.example.com",
        "127.0.0.1:443",
        {
            "https://app.example.com": "same-origin",
            "https://wsaudit-attacker.app.example.com": "same-site",
            "https://wsaudit-foreign.example": "cross-site",
        },
    ),
    "ws": Case(
        "http://app.example.com",
        "127.0.0.1:80",
        {
            "http://app.example.com": "same-origin",
            "http://wsaudit-attacker.app.example.com": "same-site",
            "http://wsaudit-foreign.example": "cross-site",
        },
    ),
}


def _page(request: CapturedRequest) -> str | None:
    """The page number a browser handshake carries in its query."""
    values = parse_qs(urlsplit(request.target).query).get("page")
    return values[0] if values else None


def _compared_names(*requests: CapturedRequest) -> list[str]:
    fetch = sorted(
        {
            name.lower()
            for r in requests
            for name, _ in r.headers
            if name.lower().startswith(FETCH_METADATA)
        }
    )
    return [*COMPARED, *fetch]


def _differences(browser: CapturedRequest, wsaudit: CapturedRequest) -> list[str]:
    return [
        f"{name}: Chromium {browser.header(name)!r}, wsaudit {wsaudit.header(name)!r}"
        for name in _compared_names(browser, wsaudit)
        if browser.header(name) != wsaudit.header(name)
    ]


Pages = dict[str, tuple[str, PageResult]]  # page origin -> (page number, what it saw)


def _browser_heads(capture: CaptureServer, pages: Pages) -> dict[str, CapturedRequest]:
    """The handshake each page sent, found by the page number in its query."""
    numbered = {_page(r): r for r in capture.requests if r.upgrade}
    return {origin: numbered[n] for origin, (n, _) in pages.items() if n in numbered}


def _measured(case: Case, pages: Pages, heads: dict[str, CapturedRequest]) -> str:
    return "\n\n".join(
        f"{origin} ({case.relations.get(origin, 'an Origin wsaudit tried')}; the page: {page}):\n"
        + (heads[origin].text() if origin in heads else "(no handshake)")
        for origin, (_number, page) in pages.items()
    )


@pytest.mark.parametrize("scheme", ["wss", "ws"])
async def test_wsaudit_sends_the_headers_chromium_sends(
    scheme: str, browser: Chromium, site_cert: SiteCertificate, ca_file: Path
) -> None:
    case = CASES[scheme]
    endpoint = f"{scheme}://{APP_HOST}{CAPTURE}"
    pages: Pages = {}
    with capture_server(site_cert) as capture:
        async with referee(browser, ANY_SCHEME) as ref:

            async def visit(origin: str) -> None:
                number = str(len(pages))
                url = f"{endpoint}browser?page={number}"
                pages[origin] = (number, await ref.attack(origin, url))

            # Chromium first, so that its heads are in every failure message.
            for origin in case.relations:
                await visit(origin)
            heads = _browser_heads(capture, pages)
            for origin in case.relations:
                head, page = heads.get(origin), pages[origin][1]
                assert page.result == "accepted", _measured(case, pages, heads)
                assert head is not None and head.origin == origin, _measured(case, pages, heads)
            print(f"\nChromium, {scheme}://:\n{_measured(case, pages, heads)}")

            config = ProbeConfig(
                url=f"{endpoint}probe",
                allowed_origins=(case.allowed,),
                connect_to=case.connect_to,
                ca_file=str(ca_file),
                tls_required=scheme == "wss",
                timeout=10,
            )
            await probe(config, GUARD)
            probes = [
                r
                for r in capture.requests
                if r.upgrade and urlsplit(r.target).path == f"{CAPTURE}probe"
            ]
            assert probes, f"wsaudit sent no handshake\n{_measured(case, pages, heads)}"
            for tried in dict.fromkeys(r.origin for r in probes):
                if tried is not None and tried not in pages:
                    await visit(tried)
        heads = _browser_heads(capture, pages)

    report = _measured(case, pages, heads)
    differences: list[str] = []
    unproducible: dict[str, str] = {}
    for request in probes:
        if request.origin is None:
            continue  # no page sends a handshake without Origin
        page = pages[request.origin][1]
        if page.result == "not-producible":
            unproducible[request.origin] = page.detail
            continue
        assert request.origin in heads, f"{request.origin}: no handshake ({page})\n{report}"
        differences += [
            f"{request.origin}: {d}" for d in _differences(heads[request.origin], request)
        ]
    print(f"not producible by Chromium: {unproducible}")
    compared = {r.origin for r in probes if r.origin is not None} - set(unproducible)
    assert compared, f"no Origin wsaudit tried could be compared\n{report}"
    assert not differences, (
        f"wsaudit's handshakes differ from Chromium's ({scheme}://):\n"
        + "\n".join(dict.fromkeys(differences))
        + f"\n\nwhat wsaudit sent, e.g.:\n{probes[0].text()}\n\nwhat Chromium sent:\n{report}"
    )


async def test_the_capture_sees_fetch_metadata_when_chromium_sends_it(
    browser: Chromium, site_cert: SiteCertificate
) -> None:
    """The control: the same capture path records Chromium's Sec-Fetch-* on a page load, so
    their absence from a handshake is Chromium's doing, not the capture's."""
    with capture_server(site_cert) as capture:
        async with referee(browser, ANY_SCHEME) as ref:
            page = await ref.attack(
                "https://wsaudit-foreign.example", f"wss://{APP_HOST}{CAPTURE}browser?page=control"
            )
    assert page.result == "accepted", page
    loads = [r for r in capture.requests if urlsplit(r.target).path == PAGE_PATH and r.tls]
    assert loads, [r.text() for r in capture.requests]
    assert loads[-1].header("Sec-Fetch-Mode") == "navigate", loads[-1].text()
    assert loads[-1].header("Sec-Fetch-Dest") == "document", loads[-1].text()
    handshake = next(r for r in capture.requests if r.upgrade)
    print(f"\npage load:\n{loads[-1].text()}\n\nhandshake:\n{handshake.text()}")

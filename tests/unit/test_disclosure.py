"""What a tenant reads in a WebSocketEndpoint's status: everything about a WebSocket
endpoint, and about any other target only what its owner needs to fix it, so that the
operator cannot fingerprint internal services for whoever creates endpoints."""

from __future__ import annotations

import datetime
import ipaddress
import json

from wsaudit.api.cluster_addresses import ClusterAddresses, node_ranges
from wsaudit.api.conditions import probe_verdicts
from wsaudit.api.disclosure import proved_websocket, shown_to_tenant
from wsaudit.probe import ProbeConfig, ProbeResult, probe
from wsaudit.probe.after_upgrade import AfterUpgrade, Seen
from wsaudit.probe.classify import (
    Attempt,
    Controls,
    certificate_checks,
    handshake_check,
    origin_check,
    scheme_check,
)
from wsaudit.probe.guard import TENANT_REFUSAL, AddressGuard
from wsaudit.probe.handshake import Failure, HandshakeOutcome
from wsaudit.probe.origins import OriginCase
from wsaudit.probe.tls import CertificateInfo

ALLOWED = "https://app.example.com"
EVIL = "https://evil.example"
NOW = datetime.datetime(2026, 11, 25, tzinfo=datetime.UTC)
INTERNAL = CertificateInfo(
    subject="CN=billing.internal.corp",
    issuer="CN=Corp Internal CA",
    not_after=NOW + datetime.timedelta(days=5),
    dns_names=("billing.internal.corp",),
    expires_first="CN=corp-intermediate",
)


def _everything_shown(result: ProbeResult) -> str:
    """The status's checks and cause, and every condition message (Events repeat them)."""
    verdicts = probe_verdicts(result, None)
    return json.dumps(
        {
            "cause": result.cause,
            "checks": [c.to_dict() for c in result.checks],
            "conditions": [(v.reason, v.message) for v in verdicts],
        }
    )


def _answered(status: int, origin: str | None = ALLOWED, **headers: str) -> HandshakeOutcome:
    return HandshakeOutcome(
        origin=origin,
        status=status,
        headers={name.replace("_", "-"): value for name, value in headers.items()},
        after_upgrade=AfterUpgrade(Seen.SILENCE) if status == 101 else None,
    )


def _result(
    primary: HandshakeOutcome,
    others: list[HandshakeOutcome],
    *,
    certificate: CertificateInfo | None = INTERNAL,
    verification_error: str | None = None,
) -> ProbeResult:
    handshake, cause = handshake_check([primary], others, 10, (), controls=Controls())
    checks = [
        scheme_check(True, True),
        *certificate_checks(
            secure=True,
            insecure_skip_verify=False,
            verified_session=verification_error is None,
            tls_version="TLSv1.3",
            verification_error=verification_error,
            transport_error=None,
            certificate=certificate,
            host="chat.example.com",
            min_days=14,
            now=NOW,
        ),
        handshake,
        origin_check(
            "origin.foreign",
            [
                Attempt(OriginCase("origin.foreign", o.origin, "bug", "fix"), o, None)
                for o in others
            ],
            allowed_accepted=primary.accepted,
            require_origin_header=False,
        ),
    ]
    return ProbeResult(
        "wss://chat.example.com/ws", checks, {}, "10.0.3.4", cause.id if cause else None
    )


async def test_a_refused_address_reads_the_same_whatever_it_is() -> None:
    guard = ClusterAddresses(kinds=frozenset({"nodes"}))
    guard = guard.detected("nodes", node_ranges([_node("worker-7", "127.0.61.7")]))
    full = await probe(
        ProbeConfig(url="wss://127.0.61.7:9/ws", allowed_origins=(ALLOWED,), timeout=2),
        guard.guard(AddressGuard(allow_private=True)),
    )
    assert "Node worker-7" in _everything_shown(full)  # the operator's own view names it

    shown = shown_to_tenant(full)
    text = _everything_shown(shown)
    assert shown.cause == "target-refused"
    assert shown.check("handshake").message == f"no WebSocket: {TENANT_REFUSAL}"  # type: ignore[union-attr]
    for leak in ("worker-7", "127.0.61.7/32", "a node's address", "allow-cluster-addresses"):
        assert leak not in text
    assert shown.address is None


def _node(name: str, address: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "status": {"addresses": [{"type": "InternalIP", "address": address}]},
    }


def test_a_target_that_never_upgrades_shows_no_headers_names_or_exact_status() -> None:
    primary = _answered(404, server="nginx/1.25.3 billing-gateway", via="1.1 billing-proxy")
    full = _result(primary, [_answered(404, EVIL), _answered(404, None)])
    assert "billing-gateway" in _everything_shown(full)

    shown = shown_to_tenant(full)
    text = _everything_shown(shown)
    assert shown.cause == "route-not-found"
    for leak in ("billing", "nginx", "404", "Corp Internal CA", "corp-intermediate"):
        assert leak not in text
    handshake = shown.check("handshake")
    assert handshake is not None
    assert handshake.details == {
        "origin": ALLOWED,
        "cause": "route-not-found",
        "outcome": "refused",
        "statusClass": "4xx",
    }
    # The Origin sent is the spec's own: it says which spec was probed.
    assert f"(HTTP 4xx to Origin {ALLOWED})" in handshake.message
    assert "check the path" in handshake.message
    expiry = shown.check("tls.expiry")
    assert expiry is not None and expiry.details == {"daysLeft": 5.0}
    assert "expires in 5.0 days" in expiry.message


def test_a_redirect_keeps_its_cause_but_not_where_it_points() -> None:
    shown = shown_to_tenant(_result(_answered(302, location="https://sso.internal.corp/x"), []))
    text = _everything_shown(shown)
    assert "sso.internal.corp" not in text
    assert "redirect" in (shown.check("handshake") or shown.checks[0]).message


def test_the_certificate_verdict_its_owner_needs_stays_but_not_its_names() -> None:
    rejected = HandshakeOutcome(
        origin=ALLOWED, failure=Failure.TLS, failure_detail="certificate rejected: x"
    )
    shown = shown_to_tenant(
        _result(rejected, [], verification_error="self-signed certificate in certificate chain")
    )
    certificate = shown.check("tls.certificate")
    assert certificate is not None
    assert certificate.message.startswith(
        "certificate rejected for chat.example.com: self-signed certificate in certificate chain"
    )
    assert certificate.details == {}
    assert "billing" not in _everything_shown(shown)


def test_a_websocket_endpoint_shows_everything() -> None:
    accepted = _result(_answered(101, server="nginx/1.25.3 billing-gateway"), [])
    assert proved_websocket(accepted)
    assert shown_to_tenant(accepted) is accepted
    # Refused for the allowed Origin, but another Origin upgraded: a WebSocket endpoint.
    refused = _result(_answered(403), [_answered(101, None)])
    assert refused.cause == "origin-not-allowed"
    assert shown_to_tenant(refused) is refused


def test_the_shown_view_keeps_every_verdict() -> None:
    full = _result(_answered(503, server="envoy"), [_answered(503, EVIL)])
    shown = shown_to_tenant(full)
    assert [(c.id, c.status) for c in shown.checks] == [(c.id, c.status) for c in full.checks]
    assert [(v.type, v.status, v.reason) for v in probe_verdicts(shown, None)] == [
        (v.type, v.status, v.reason) for v in probe_verdicts(full, None)
    ]
    assert ipaddress.ip_address(full.address or "") and shown.address is None

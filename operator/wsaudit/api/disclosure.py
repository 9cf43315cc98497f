"""What a WebSocketEndpoint's status may show of a probe (pure).

Whoever can create a WebSocketEndpoint can point it anywhere the operator may connect. If
the status carried every answer (status codes, `Server`/`Via`, redirect targets, error
details, certificate names), the operator would fingerprint internal services for them.
So a target earns full details only by proving to be a WebSocket endpoint (some handshake
of the probe got a valid 101); for any other the status keeps what its owner needs to fix
it: the cause, each check's verdict, the status code's class (4xx), and fixed sentences.
The operator's log and metrics keep the full result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from ..probe import Check, CheckStatus, ProbeResult
from ..probe.guard import TENANT_REFUSAL

_UPGRADED = ("accepted", "closed-after-upgrade")  # a valid 101, whatever followed

# Per cause: what was wrong and where to look, with nothing the target said.
_CAUSES = {
    "target-refused": TENANT_REFUSAL,
    "dns-failure": "the host name did not resolve; check it and its DNS record",
    "connection-refused": "the connection was refused; check the port, the Service and that "
    "the server runs",
    "connection-reset": "the connection was closed without an answer (a proxy, load balancer "
    "or the server cut it, or the port does not speak TLS)",
    "timeout": "no answer within the timeout (a firewall dropping packets, or a server or "
    "proxy that never answered)",
    "tls-failure": "the TLS handshake failed or the certificate was rejected; see tls.certificate",
    "not-http": "the answer was not HTTP: wrong port or protocol (a TLS port needs wss://, a "
    "plain one ws://)",
    "headers-too-large": "the answer's headers were too large",
    "bad-accept": "a 101 answer no browser keeps (wrong Sec-WebSocket-Accept): a proxy or "
    "middlebox rewrites the handshake",
    "invalid-upgrade": "a 101 answer no browser keeps (not an upgrade to websocket): a proxy "
    "or middlebox rewrites the handshake",
    "redirect": "a redirect: WebSocket clients do not follow redirects; use the final URL "
    "(often wss:// instead of ws://)",
    "auth-required": "authentication is required; give a token (auth.tokenSecretRef)",
    "backend-unavailable": "a proxy cannot reach a healthy backend; check the Service, its "
    "endpoints and the pods",
    "upgrade-not-forwarded": "the backend got no Upgrade request: a proxy in between drops "
    "the Upgrade/Connection headers or speaks HTTP/1.0 to it (nginx: proxy_http_version 1.1; "
    'proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade")',
    "engineio-error": "a Socket.IO (Engine.IO) error: check the transport, sticky sessions "
    "and the client's protocol version",
    "upgrade-ignored": "the path serves plain HTTP: a proxy dropped the Upgrade header, or "
    "the URL hits an HTTP route",
    "route-not-found": "nothing handles WebSocket upgrades at this path; check the path "
    "against the server's route and the Ingress rules",
    "upgrade-rejected": "every Origin was refused alike: something rejects the upgrade "
    "before any origin policy (CORS/CSRF middleware, a WAF, a proxy rule)",
    "origin-not-allowed": "the allowed Origin was refused: the server's origin allow-list "
    "lacks that exact origin",
    "cors-middleware": "the allowed Origin was refused by CORS middleware in front of the "
    "WebSocket handler",
    "host-rewritten": "the endpoint's own origin was refused behind a proxy: forward Host "
    "and the scheme to the server (nginx: proxy_set_header Host $http_host; proxy_set_header "
    "X-Forwarded-Proto $scheme)",
    "server-error": "the server failed handling the upgrade; check its logs",
    "upgrade-refused": "the server or a proxy refused the upgrade",
}
_WITHHELD = (
    "details withheld: the target never completed a WebSocket handshake, so the status shows "
    "only the cause"
)
_NOT_VERIFIED = "no certificate verified: the connection failed (see the handshake check)"


def proved_websocket(result: ProbeResult) -> bool:
    """Some handshake of the probe (any Origin) got a valid 101."""
    return any(
        outcome.get("outcome") in _UPGRADED
        for check in result.checks
        for outcome in _outcomes(check.details)
    )


def _outcomes(details: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield details
    for entry in details.get("origins") or ():
        if isinstance(entry, Mapping):
            yield entry


def shown_to_tenant(result: ProbeResult) -> ProbeResult:
    """The result as the resource's status and Events may show it: unchanged for a
    WebSocket endpoint, minimal for a target that never upgraded or was refused."""
    if proved_websocket(result):
        return result
    return dataclasses.replace(
        result,
        address=None,
        checks=[_minimal(check, result.cause) for check in result.checks],
    )


def _status_class(details: Mapping[str, Any]) -> dict[str, str]:
    status = details.get("status")
    return {"statusClass": f"{status // 100}xx"} if isinstance(status, int) else {}


def _kept(details: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: details[key] for key in keys if key in details}


def _minimal(check: Check, cause: str | None) -> Check:
    details = check.details
    if check.id in ("tls.scheme", "auth.transport", "idle"):
        return check  # said from the spec and the probe alone
    if check.id == "handshake":
        status = _status_class(details)
        # The Origin is the spec's own (the tenant's input), and tells which spec was probed.
        origin = f" to Origin {details['origin']}" if isinstance(details.get("origin"), str) else ""
        answer = f" (HTTP {status['statusClass']}{origin})" if status else ""
        message = (
            check.message
            if cause == "probe-error"
            else f"no WebSocket{answer}: {_CAUSES.get(cause or '', _WITHHELD)}"
        )
        shown = {**_kept(details, "origin", "cause", "outcome"), **status}
        return dataclasses.replace(check, message=message, details=shown)
    if check.id.startswith("origin."):
        entries = [
            {**_kept(entry, "origin", "outcome", "site"), **_status_class(entry)}
            for entry in details.get("origins") or ()
            if isinstance(entry, Mapping)
        ]
        return dataclasses.replace(check, details={"origins": entries})
    if check.id == "tls.certificate":
        return dataclasses.replace(check, message=_certificate_message(check), details={})
    if check.id == "tls.expiry":
        return _expiry(check)
    return dataclasses.replace(check, message=_WITHHELD, details={})


def _certificate_message(check: Check) -> str:
    """A verification's own verdict is OpenSSL's fixed wording about the host the tenant
    named (self-signed, expired, host name mismatch), which its owner needs; a failed
    connection's message may carry its error or the guard's reason."""
    rejected = check.message.startswith("certificate rejected for ")
    if check.message.startswith("no certificate verified") or (
        check.status is CheckStatus.FAIL and not rejected
    ):
        return _NOT_VERIFIED
    return check.message


def _expiry(check: Check) -> Check:
    """Days left, without the names of the chain's certificates."""
    days = check.details.get("daysLeft")
    if not isinstance(days, int | float):
        return dataclasses.replace(check, details={})
    if check.status is CheckStatus.PASS:
        message = f"the certificate is valid for {days:.0f} more days"
    elif days < 0:
        message = f"the certificate expired {-days:.0f} days ago; renew it"
    else:
        message = f"the certificate expires in {days:.1f} days, under the threshold; renew it"
    return dataclasses.replace(check, message=message, details={"daysLeft": days})

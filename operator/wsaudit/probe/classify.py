"""From handshake evidence to checks: pure functions, no I/O.

The heart of wsaudit. "WebSocket CORS error" in a browser console usually means one of a
handful of real causes; which one it is shows in the evidence: the status each Origin got,
the headers, which Origins were refused and whether they were refused the same way.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from .handshake import Failure, HandshakeOutcome
from .models import Check, CheckStatus
from .origins import OriginCase
from .tls import CertificateInfo

_SERVER_HEADERS = ("server", "via")
_UPGRADE_WORDS = (b"upgrade", b"connection header", b"websocket")


@dataclass(frozen=True)
class Cause:
    """Why the allowed Origin got no WebSocket: an id (stable) and a sentence with the fix."""

    id: str
    message: str


def _printable(value: str, limit: int = 80) -> str:
    """Header values come from the server: keep them short and free of control characters."""
    cleaned = "".join(ch if 0x20 <= ord(ch) < 0x7F else "?" for ch in value)
    return cleaned[:limit]


def response_details(outcome: HandshakeOutcome) -> dict[str, object]:
    details: dict[str, object] = {"origin": outcome.origin}
    if outcome.status is not None:
        details["status"] = outcome.status
    if outcome.failure is not None:
        details["error"] = outcome.failure.value
        details["errorDetail"] = outcome.failure_detail
    for header in _SERVER_HEADERS:
        if header in outcome.headers:
            details[header] = _printable(outcome.headers[header])
    return details


def _transport_cause(outcome: HandshakeOutcome, timeout: float) -> Cause:
    failure = outcome.failure
    detail = outcome.failure_detail
    match failure:
        case Failure.DNS:
            return Cause(failure, f"{detail}: check the host name and its DNS record")
        case Failure.TARGET_REFUSED:
            return Cause(failure, detail)
        case Failure.CONNECTION_REFUSED:
            return Cause(
                failure,
                f"{detail}: nothing listens on that port; check the port, the Service and "
                "that the server is running",
            )
        case Failure.CONNECTION_RESET if outcome.failure_phase == "tls":
            return Cause(
                failure,
                f"{detail}: the port may not speak TLS (use ws:// for a plain port) or a "
                "firewall cut the connection",
            )
        case Failure.CONNECTION_RESET:
            return Cause(
                failure,
                f"{detail}: a proxy, load balancer or the server itself closed it without "
                "answering; check their logs",
            )
        case Failure.TIMEOUT:
            return Cause(
                failure,
                f"{detail} within {timeout:g} s: a firewall dropping packets, or a server "
                "or proxy that accepted the connection and never answered",
            )
        case Failure.TLS:
            return Cause(failure, f"{detail}: see tls.certificate")
        case Failure.NOT_HTTP:
            return Cause(
                failure,
                f"{detail}: wrong port or protocol (a TLS port needs wss://, a plain one ws://)",
            )
        case Failure.HEADERS_TOO_LARGE:
            return Cause(failure, f"{detail}: a misbehaving server or proxy")
    raise AssertionError(f"unclassified failure {failure}")


def _mentions_upgrade(outcome: HandshakeOutcome) -> bool:
    body = outcome.body_hint.lower()
    return any(word in body for word in _UPGRADE_WORDS)


def classify_refusal(
    refused: HandshakeOutcome, others: Sequence[HandshakeOutcome], timeout: float
) -> Cause:
    """The cause of the allowed Origin getting no WebSocket, from all handshakes' evidence."""
    if refused.failure is not None:
        return _transport_cause(refused, timeout)
    status = refused.status
    assert status is not None
    if status == 101:
        return Cause(
            "bad-accept",
            "the server (or a proxy rewriting headers) answered 101 with a wrong "
            "Sec-WebSocket-Accept, so browsers drop the connection",
        )
    if 300 <= status < 400:
        location = _printable(refused.headers.get("location", "(no Location)"), 120)
        return Cause(
            "redirect",
            f"HTTP {status} redirect to {location}: WebSocket clients do not follow "
            "redirects; use the final URL (often wss:// instead of ws://)",
        )
    if status in (401, 407):
        return Cause(
            "auth-required",
            f"HTTP {status}: the endpoint requires authentication; give a token "
            "(auth.tokenSecretRef, or --header 'Authorization: Bearer ...')",
        )
    if status in (502, 503, 504):
        return Cause(
            "backend-unavailable",
            f"HTTP {status} from a proxy: it cannot reach a healthy backend; check the "
            "Service, its endpoints and the pods",
        )
    answered = [o for o in others if o.answered]
    if any(o.upgraded for o in answered):
        accepted = next(o for o in answered if o.upgraded)
        shown = "no Origin" if accepted.origin is None else accepted.origin
        return Cause(
            "origin-not-allowed",
            f"the server upgrades ({shown} got 101) but refused the allowed Origin "
            f"{refused.origin} with HTTP {status}: its allow-list lacks that exact origin; "
            "add it as scheme://host[:port]",
        )
    if status in (426, 505) or (status == 400 and _mentions_upgrade(refused)):
        seen = "an HTTP/1.0 request" if status == 505 else "no Upgrade request"
        return Cause(
            "upgrade-not-forwarded",
            f"HTTP {status}: the backend got {seen}; a proxy in between "
            "drops the Upgrade/Connection headers or speaks HTTP/1.0 to it (nginx: "
            "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
            'proxy_set_header Connection "upgrade")',
        )
    same_everywhere = len(answered) >= 2 and all(o.status == status for o in answered)
    if status == 200:
        return Cause(
            "upgrade-ignored",
            "HTTP 200: the path serves plain HTTP; either a proxy dropped the Upgrade "
            "header or the URL hits an HTTP route (wrong path, SPA fallback)",
        )
    if status == 404:
        return Cause(
            "not-found",
            "HTTP 404: nothing routes this path to a WebSocket handler; check the path, "
            "the Ingress rules and the server's route",
        )
    if same_everywhere:
        return Cause(
            "upgrade-rejected",
            f"every Origin, allowed, untrusted or none, was refused with HTTP {status}: "
            "something rejects the upgrade before any origin policy (framework CORS/CSRF "
            "middleware, a WAF, or a proxy rule); exempt the WebSocket path from it",
        )
    if status == 403:
        return Cause(
            "origin-not-allowed",
            f"the allowed Origin {refused.origin} was refused with HTTP 403: the server's "
            "origin allow-list lacks it; add that exact scheme://host[:port]",
        )
    if status >= 500:
        return Cause(
            "server-error",
            f"HTTP {status}: the server failed while handling the upgrade; check its logs",
        )
    return Cause(
        "upgrade-refused",
        f"HTTP {status} instead of 101 Switching Protocols: the server or a proxy refused "
        "the upgrade",
    )


def handshake_check(
    primaries: Sequence[HandshakeOutcome],
    others: Sequence[HandshakeOutcome],
    timeout: float,
    subprotocols: Sequence[str],
) -> tuple[Check, Cause | None]:
    refused = next((o for o in primaries if not o.upgraded), None)
    if refused is None:
        first = primaries[0]
        details: dict[str, object] = response_details(first)
        details["origins"] = [o.origin for o in primaries]
        if first.subprotocol is not None:
            details["subprotocol"] = _printable(first.subprotocol)
            if first.subprotocol not in subprotocols:
                return Check(
                    "handshake",
                    CheckStatus.FAIL,
                    f"the server selected subprotocol {_printable(first.subprotocol)!r}, "
                    "which was not offered; browsers abort such a connection",
                    details,
                ), Cause("subprotocol-mismatch", "the server selected an unoffered subprotocol")
        elif subprotocols:
            return Check(
                "handshake",
                CheckStatus.WARN,
                f"101 Switching Protocols, but no subprotocol was selected from "
                f"{', '.join(subprotocols)}",
                details,
            ), None
        shown = ", ".join(str(o.origin) for o in primaries)
        return Check(
            "handshake",
            CheckStatus.PASS,
            f"101 Switching Protocols with a valid Sec-WebSocket-Accept for {shown}",
            details,
        ), None
    cause = classify_refusal(refused, [*primaries, *others], timeout)
    details = response_details(refused)
    details["cause"] = cause.id
    return Check(
        "handshake",
        CheckStatus.FAIL,
        f"no WebSocket for allowed Origin {refused.origin}: {cause.message}",
        details,
    ), cause


_WARN_ONLY = {"origin.subdomain"}


def origin_check(
    check_id: str,
    attempts: Sequence[tuple[OriginCase, HandshakeOutcome | None]],
    *,
    allowed_upgraded: bool,
    require_origin_header: bool,
) -> Check:
    """One check per id; several origins can share an id (one per allowed origin)."""
    accepted = [(case, o) for case, o in attempts if o is not None and o.upgraded]
    tried = [
        {"origin": case.origin, **({"status": o.status} if o and o.status else {})}
        for case, o in attempts
        if o is not None
    ]
    details: dict[str, object] = {"origins": tried}
    if accepted:
        case, _outcome = accepted[0]
        shown = "a handshake without Origin" if case.origin is None else case.origin
        if check_id == "origin.missing" and not require_origin_header:
            return Check(
                check_id,
                CheckStatus.WARN,
                f"the server accepts {shown}: fine for non-browser clients, but if only "
                "browsers connect, refuse it (browsers always send Origin); "
                "set requireOriginHeader to make this a failure",
                details,
            )
        status = CheckStatus.WARN if check_id in _WARN_ONLY else CheckStatus.FAIL
        return Check(
            check_id,
            status,
            f"origin check accepts {shown}: {case.bug}; fix: {case.fix}",
            details,
        )
    answered = [o for _case, o in attempts if o is not None and o.answered]
    if not answered:
        return Check(
            check_id,
            CheckStatus.SKIP,
            "not judged: the endpoint gave no HTTP answer to this Origin",
            details,
        )
    if not allowed_upgraded:
        return Check(
            check_id,
            CheckStatus.SKIP,
            "not judged: the allowed Origin is refused too, so a refusal here says nothing "
            "about the origin policy",
            details,
        )
    statuses = sorted({o.status for o in answered if o.status is not None})
    shown_origins = ", ".join("no Origin" if c.origin is None else c.origin for c, _ in attempts)
    return Check(
        check_id,
        CheckStatus.PASS,
        f"refused {shown_origins} (HTTP {', '.join(map(str, statuses))})",
        details,
    )


def scheme_check(secure: bool, tls_required: bool) -> Check:
    if secure:
        return Check("tls.scheme", CheckStatus.PASS, "wss:// (TLS)")
    message = (
        "ws:// is plaintext: https pages cannot open it (mixed content, reported as a "
        "CORS-like error) and anyone on the path can read and inject frames; serve "
        "wss:// (terminate TLS at the Ingress or load balancer)"
    )
    status = CheckStatus.FAIL if tls_required else CheckStatus.WARN
    return Check("tls.scheme", status, message)


def certificate_checks(
    *,
    secure: bool,
    insecure_skip_verify: bool,
    verified_session: bool,
    tls_version: str | None,
    verification_error: str | None,
    transport_error: str | None,
    certificate: CertificateInfo | None,
    host: str,
    min_days: int,
    now: datetime.datetime,
) -> list[Check]:
    if not secure:
        return [
            Check("tls.certificate", CheckStatus.SKIP, "no TLS on ws://"),
            Check("tls.expiry", CheckStatus.SKIP, "no TLS on ws://"),
        ]
    details: dict[str, object] = {"tlsVersion": tls_version} if tls_version else {}
    if certificate is not None:
        details.update(
            subject=certificate.subject,
            issuer=certificate.issuer,
            dnsNames=list(certificate.dns_names),
            notAfter=certificate.not_after.isoformat(),
        )
    if verification_error is not None:
        fix = _certificate_fix(verification_error, host)
        cert_check = Check(
            "tls.certificate",
            CheckStatus.FAIL,
            f"certificate rejected for {host}: {verification_error}; {fix}",
            details,
        )
    elif insecure_skip_verify:
        cert_check = Check(
            "tls.certificate",
            CheckStatus.SKIP,
            "verification disabled (insecure mode): chain and host name not checked",
            details,
        )
    elif verified_session:
        cert_check = Check(
            "tls.certificate",
            CheckStatus.PASS,
            f"valid chain and host name for {host} ({tls_version})",
            details,
        )
    elif transport_error is not None:
        cert_check = Check(
            "tls.certificate",
            CheckStatus.FAIL if "TLS" in transport_error else CheckStatus.SKIP,
            f"no certificate verified: {transport_error}",
            details,
        )
    else:
        cert_check = Check("tls.certificate", CheckStatus.SKIP, "no TLS session", details)
    return [cert_check, _expiry_check(certificate, min_days, now)]


def _certificate_fix(error: str, host: str) -> str:
    lowered = error.lower()
    if "expired" in lowered:
        return "renew the certificate (cert-manager renews before expiry when configured)"
    if "hostname" in lowered or "ip address mismatch" in lowered:
        return f"issue a certificate whose subjectAltName covers {host}"
    if "self-signed" in lowered or "unable to get local issuer" in lowered:
        return (
            "serve the full chain from a trusted CA, or trust the private CA "
            "(tls.caSecretRef / --ca-file)"
        )
    return "serve a valid certificate chain for this host"


def _expiry_check(
    certificate: CertificateInfo | None, min_days: int, now: datetime.datetime
) -> Check:
    if certificate is None:
        return Check("tls.expiry", CheckStatus.SKIP, "no certificate was read")
    days = certificate.days_left(now)
    details = {"notAfter": certificate.not_after.isoformat(), "daysLeft": round(days, 1)}
    if days < 0:
        return Check(
            "tls.expiry",
            CheckStatus.FAIL,
            f"the certificate expired {-days:.0f} days ago ({certificate.not_after:%Y-%m-%d}); "
            "renew it",
            details,
        )
    if days < min_days:
        return Check(
            "tls.expiry",
            CheckStatus.FAIL,
            f"the certificate expires in {days:.1f} days ({certificate.not_after:%Y-%m-%d}), "
            f"under the {min_days}-day threshold; renew it",
            details,
        )
    return Check(
        "tls.expiry",
        CheckStatus.PASS,
        f"the certificate is valid for {days:.0f} more days",
        details,
    )

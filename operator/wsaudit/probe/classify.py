"""From handshake evidence to checks: pure functions, no I/O.

The heart of wsaudit. "WebSocket CORS error" in a browser console usually means one of a
handful of real causes; which one it is shows in the evidence: the status each Origin got,
the headers, which Origins were refused and whether they were refused the same way.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .handshake import Failure, HandshakeOutcome, Outcome
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
    if outcome.invalid_upgrade is not None:
        details["invalidUpgrade"] = outcome.invalid_upgrade
    return details


def _location(value: str | None) -> str:
    """Where a redirect points, without its query and fragment: an SSO redirect carries
    state and nonces there, which must not reach a status or an Event."""
    if not value:
        return "(no Location)"
    kept = value.split("?", 1)[0].split("#", 1)[0]
    hidden = " (query omitted)" if len(kept) < len(value) else ""
    return _printable(kept, 120) + hidden


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


@dataclass(frozen=True)
class Controls:
    """Requests the probe sends itself when the allowed Origin gets no WebSocket, so that
    a cause rests on a comparison rather than on keywords."""

    plain: HandshakeOutcome | None = None  # the same URL and Origin, without Upgrade
    sibling: HandshakeOutcome | None = None  # the upgrade on a random sibling path
    own_origin: str | None = None  # the endpoint's own origin (wss://h -> https://h)


_PROXY_SERVERS = re.compile(
    r"nginx|openresty|envoy|haproxy|traefik|caddy|apache|cloudflare|awselb|istio", re.I
)
_ENGINEIO_ERROR = re.compile(rb'^\s*\{\s*"code"\s*:\s*([0-5])\s*,\s*"message"')
_ENGINEIO_MEANINGS = {
    0: (
        "Transport unknown",
        "the transport query parameter is not one the server enables; allow the websocket "
        "transport (Socket.IO option transports) and use ?EIO=4&transport=websocket",
    ),
    1: (
        "Session ID unknown",
        "the sid belongs to another server instance: enable sticky sessions for Socket.IO "
        "(or connect with transports: ['websocket'] only)",
    ),
    2: ("Bad handshake method", "open the WebSocket with GET"),
    5: (
        "Unsupported protocol version",
        "the client's Engine.IO version (EIO=) is not the server's: use a client of the "
        "server's major version, or enable allowEIO3 on the server for v2 clients",
    ),
}


def _engineio_code(outcome: HandshakeOutcome) -> int | None:
    matched = _ENGINEIO_ERROR.match(outcome.body_hint)
    return int(matched.group(1)) if matched else None


def _cors_signature(outcome: HandshakeOutcome) -> bool:
    """What only CORS middleware leaves on a refusal: Access-Control-* headers, Vary on the
    CORS request headers, or its own words (Spring's "Invalid CORS request")."""
    vary = _header_tokens(outcome.headers.get("vary", ""))
    return (
        any(name.startswith("access-control-") for name in outcome.headers)
        or bool(vary & {"access-control-request-method", "access-control-request-headers"})
        or b"cors" in outcome.body_hint.lower()
    )


def _header_tokens(value: str) -> set[str]:
    return {token.strip().lower() for token in value.split(",") if token.strip()}


def _proxy_seen(outcome: HandshakeOutcome) -> bool:
    return "via" in outcome.headers or bool(
        _PROXY_SERVERS.search(outcome.headers.get("server", ""))
    )


def _same_answer(first: HandshakeOutcome, second: HandshakeOutcome | None) -> bool:
    """Both answered the same way (status, and what followed a 101)."""
    if second is None or not first.answered or not second.answered:
        return False
    if first.status != second.status:
        return False
    return (first.after_upgrade is None) == (second.after_upgrade is None) and (
        first.after_upgrade is None
        or second.after_upgrade is None
        or first.after_upgrade.seen == second.after_upgrade.seen
    )


def classify_refusal(
    refused: HandshakeOutcome,
    others: Sequence[HandshakeOutcome],
    timeout: float,
    controls: Controls | None = None,
) -> Cause:
    """The cause of the allowed Origin getting no working WebSocket, from the evidence of
    every handshake and of the control requests."""
    controls = controls or Controls()
    if refused.failure is not None:
        return _transport_cause(refused, timeout)
    status = refused.status
    assert status is not None
    if status == 101 and refused.invalid_upgrade is not None:
        cause_id = "bad-accept" if "Accept" in refused.invalid_upgrade else "invalid-upgrade"
        return Cause(
            cause_id,
            f"{refused.invalid_upgrade}, so browsers fail the connection: the server, or a "
            "proxy or middlebox rewriting headers, answers 101 without completing the "
            "WebSocket handshake",
        )
    if refused.outcome is Outcome.CLOSED_AFTER_UPGRADE:
        return _closed_after_upgrade(refused, others, controls)
    if 300 <= status < 400:
        location = _location(refused.headers.get("location"))
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
    engineio = _engineio_code(refused)
    if engineio == 3:
        return Cause(
            "upgrade-not-forwarded",
            f"HTTP {status} with Engine.IO error 3 (Bad request): the Socket.IO server got a "
            "websocket-transport request without the Upgrade header, so a proxy in front "
            "drops Upgrade/Connection or speaks HTTP/1.0 to it (nginx: "
            "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
            'proxy_set_header Connection "upgrade")',
        )
    if engineio in _ENGINEIO_MEANINGS:
        meaning, fix = _ENGINEIO_MEANINGS[engineio]
        return Cause(
            "engineio-error", f"HTTP {status} with Engine.IO error {engineio} ({meaning}): {fix}"
        )
    answered = [o for o in others if o.answered]
    upgraded = [o for o in answered if o.upgraded]
    if upgraded:
        return _origin_refused(refused, upgraded, controls)
    if status in (426, 505) or (status == 400 and _mentions_upgrade(refused)):
        seen = "an HTTP/1.0 request" if status == 505 else "no Upgrade request"
        return Cause(
            "upgrade-not-forwarded",
            f"HTTP {status}: the backend got {seen}; a proxy in between "
            "drops the Upgrade/Connection headers or speaks HTTP/1.0 to it (nginx: "
            "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
            'proxy_set_header Connection "upgrade")',
        )
    if status == 200:
        return Cause(
            "upgrade-ignored",
            "HTTP 200: the path serves plain HTTP; either a proxy dropped the Upgrade "
            "header or the URL hits an HTTP route (wrong path, SPA fallback)",
        )
    if status == 404 or (status != 403 and _same_answer(refused, controls.sibling)):
        sibling = (
            " (a random sibling path gets the same answer)"
            if _same_answer(refused, controls.sibling)
            else ""
        )
        # A proxy that drops Upgrade turns the handshake into a plain GET, which a
        # WebSocket-only route answers with 404 too: the evidence cannot tell them apart.
        proxy = (
            "; or the proxy in front drops the Upgrade header, so the backend sees a plain "
            "request (nginx: proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
            'proxy_set_header Connection "upgrade")'
            if _proxy_seen(refused) and _same_answer(refused, controls.plain)
            else ""
        )
        return Cause(
            "route-not-found",
            f"HTTP {status}{sibling}: nothing handles WebSocket upgrades at this path; check "
            f"the path in the URL against the server's WebSocket route and the Ingress rules"
            f"{proxy}",
        )
    if len(answered) >= 2 and all(o.status == status for o in answered):
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


def _shown(origin: str | None) -> str:
    return "a handshake without Origin" if origin is None else origin


def _origin_refused(
    refused: HandshakeOutcome, upgraded: Sequence[HandshakeOutcome], controls: Controls
) -> Cause:
    """The allowed Origin is refused while another Origin (or none) gets 101."""
    status = refused.status
    plain = controls.plain
    # A WebSocket layer answers a request without Upgrade with 400 or 426; the same
    # refusal there means the check runs in front of it, in HTTP middleware or a hook.
    in_front = plain is not None and plain.status == status
    bare_upgraded = any(o.origin is None for o in upgraded)
    first = upgraded[0]
    if _cors_signature(refused) and bare_upgraded:
        also = ", also on a plain request without Upgrade," if in_front else ""
        return Cause(
            "cors-middleware",
            f"HTTP {status} for the allowed Origin {refused.origin}{also} with CORS headers, "
            f"while {_shown(first.origin)} gets 101: CORS middleware in front of the "
            "WebSocket handler rejects the Origin (its allow-list is not the WebSocket "
            "layer's); exempt the WebSocket path from the CORS filter, or add the origin "
            "to the CORS configuration as well",
        )
    if (
        refused.origin is not None
        and refused.origin == controls.own_origin
        and bare_upgraded
        and _proxy_seen(refused)
    ):
        return Cause(
            "host-rewritten",
            f"the endpoint's own origin {refused.origin} is refused with HTTP {status} while "
            "a handshake without Origin gets 101, behind a proxy: the server compares Origin "
            "with the request's own origin (Host, and for Spring the scheme too: the default "
            "of gorilla/websocket, coder/websocket, Tornado and Spring), and the proxy "
            "rewrites Host to the backend's address or drops the original scheme; forward "
            "them (nginx: proxy_set_header Host $http_host; proxy_set_header "
            "X-Forwarded-Proto $scheme; Spring: server.forward-headers-strategy=framework; "
            "ingress controllers forward both by default), or allow-list the origin "
            "explicitly",
        )
    where = (
        " (the same refusal comes on a plain request without Upgrade, so the check runs in "
        "HTTP middleware or a request hook in front of the WebSocket handler)"
        if in_front
        else ""
    )
    return Cause(
        "origin-not-allowed",
        f"the server upgrades ({_shown(first.origin)} got 101) but refused the allowed "
        f"Origin {refused.origin} with HTTP {status}{where}: its allow-list lacks that exact "
        "origin; add it as scheme://host[:port]",
    )


def _closed_after_upgrade(
    refused: HandshakeOutcome, others: Sequence[HandshakeOutcome], controls: Controls
) -> Cause:
    after = refused.after_upgrade
    assert after is not None
    what = after.describe()
    sibling = controls.sibling
    if sibling is not None and sibling.outcome is Outcome.CLOSED_AFTER_UPGRADE:
        return Cause(
            "route-not-found",
            f"101 Switching Protocols, then at once {what}, and a random sibling path gets "
            "the same: the server upgrades any path and has no WebSocket route at this one "
            "(express-ws does this); check the path in the URL against the server's routes",
        )
    kept = next((o for o in others if o.accepted), None)
    if kept is not None:
        return Cause(
            "origin-not-allowed",
            f"the allowed Origin {refused.origin} gets 101 and then {what}, while "
            f"{_shown(kept.origin)} stays open: the server's origin check, run after the "
            "upgrade, lacks that exact origin; add it as scheme://host[:port]",
        )
    return Cause(
        "closed-after-upgrade",
        f"101 Switching Protocols, then at once {what}, before any data: the server's "
        "handler refuses the connection after accepting it (an authentication or origin "
        "check, or a missing route); browsers see 'open' and then the close",
    )


def _outcome_details(outcome: HandshakeOutcome, site: str | None) -> dict[str, object]:
    record: dict[str, object] = {"origin": outcome.origin, "outcome": outcome.outcome.value}
    if outcome.status is not None:
        record["status"] = outcome.status
    record["site"] = site
    after = outcome.after_upgrade
    if after is not None and not after.kept_open:
        record["after"] = after.seen.value
        if after.close_code is not None:
            record["closeCode"] = after.close_code
    if after is not None and after.protocol:
        record["protocol"] = after.protocol
    return record


def handshake_check(
    primaries: Sequence[HandshakeOutcome],
    others: Sequence[HandshakeOutcome],
    timeout: float,
    subprotocols: Sequence[str],
    *,
    controls: Controls | None = None,
    sites: Sequence[str | None] = (),
) -> tuple[Check, Cause | None]:
    refused = next((o for o in primaries if not o.accepted), None)
    if refused is None:
        first = primaries[0]
        details: dict[str, object] = response_details(first)
        relations = list(sites) or [None] * len(primaries)
        details["origins"] = [
            _outcome_details(o, site) for o, site in zip(primaries, relations, strict=True)
        ]
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
        protocol = (
            " (Socket.IO connected)" if first.after_upgrade and first.after_upgrade.protocol else ""
        )
        return Check(
            "handshake",
            CheckStatus.PASS,
            f"101 Switching Protocols with a valid Sec-WebSocket-Accept for {shown}, and the "
            f"connection stays open{protocol}",
            details,
        ), None
    cause = classify_refusal(refused, [*primaries, *others], timeout, controls)
    details = response_details(refused)
    details["cause"] = cause.id
    details["outcome"] = refused.outcome.value
    return Check(
        "handshake",
        CheckStatus.FAIL,
        f"no WebSocket for allowed Origin {refused.origin}: {cause.message}",
        details,
    ), cause


# Trusting subdomains of one's own site is a choice some apps make on purpose; it is
# reported, not failed (it matters with subdomain takeover or user content).
_WARN_ONLY = {"origin.subdomain", "origin.sibling-subdomain"}


@dataclass(frozen=True)
class Attempt:
    """One untrusted Origin tried (outcome None: not tried before the deadline)."""

    case: OriginCase
    outcome: HandshakeOutcome | None
    site: str | None


_SITE_WORDS = {
    "cross-site": "any web page can open it with the visitor's SameSite=None cookies",
    "same-site": "a page on a sibling site can open it with the visitor's cookies, even "
    "SameSite=Lax or Strict ones",
    "same-origin": "same-origin",
}


def origin_check(
    check_id: str,
    attempts: Sequence[Attempt],
    *,
    allowed_accepted: bool,
    require_origin_header: bool,
    budget: str = "",
) -> Check:
    """One check per id; several origins can share an id (one per allowed origin). It
    passes only when every attempt was answered with a refusal."""
    details: dict[str, object] = {
        "origins": [
            _outcome_details(a.outcome, a.site)
            if a.outcome is not None
            else {"origin": a.case.origin, "outcome": Outcome.NO_ANSWER.value, "site": a.site}
            for a in attempts
        ]
    }
    accepted = [a for a in attempts if a.outcome is not None and a.outcome.accepted]
    if accepted:
        first = accepted[0]
        shown = _shown(first.case.origin)
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
        reach = f" ({first.site}: {_SITE_WORDS[first.site]})" if first.site else ""
        return Check(
            check_id,
            status,
            f"origin check accepts {shown}{reach}: {first.case.bug}; fix: {first.case.fix}",
            details,
        )
    answered = [a for a in attempts if a.outcome is not None and a.outcome.answered]
    if not answered:
        return Check(
            check_id,
            CheckStatus.SKIP,
            f"not judged: the endpoint gave no HTTP answer to this Origin{budget}",
            details,
        )
    if not allowed_accepted:
        return Check(
            check_id,
            CheckStatus.SKIP,
            "not judged: the allowed Origin gets no working WebSocket either, so a refusal "
            "here says nothing about the origin policy",
            details,
        )
    unanswered = len(attempts) - len(answered)
    if unanswered:
        return Check(
            check_id,
            CheckStatus.WARN,
            f"partially judged: {unanswered} of {len(attempts)} attempts got no answer"
            f"{budget}; the others were refused",
            details,
        )
    late = [a for a in answered if a.outcome is not None and a.outcome.upgraded]
    if late:
        after = late[0].outcome.after_upgrade if late[0].outcome else None
        what = after.describe() if after else "a close"
        return Check(
            check_id,
            CheckStatus.WARN,
            f"refused only after the upgrade: {_shown(late[0].case.origin)} got 101 and then "
            f"{what}; not a hijack, but RFC 6455 wants the refusal in the handshake (a "
            "browser page sees 'open' first): refuse with 403 before upgrading",
            details,
        )
    statuses = sorted({a.outcome.status for a in answered if a.outcome and a.outcome.status})
    shown_origins = ", ".join(_shown(a.case.origin) for a in attempts)
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
    details: dict[str, object] = {
        "notAfter": certificate.not_after.isoformat(),
        "daysLeft": round(days, 1),
    }
    which = "the certificate"
    if certificate.expires_first is not None:
        details["expiresFirst"] = certificate.expires_first
        which = f"the chain's certificate {certificate.expires_first!r}"
    if days < 0:
        return Check(
            "tls.expiry",
            CheckStatus.FAIL,
            f"{which} expired {-days:.0f} days ago ({certificate.not_after:%Y-%m-%d}); renew it",
            details,
        )
    if days < min_days:
        return Check(
            "tls.expiry",
            CheckStatus.FAIL,
            f"{which} expires in {days:.1f} days ({certificate.not_after:%Y-%m-%d}), "
            f"under the {min_days}-day threshold; renew it",
            details,
        )
    return Check(
        "tls.expiry",
        CheckStatus.PASS,
        f"{which} is valid for {days:.0f} more days",
        details,
    )

"""Status conditions from a probe result: pure functions, so every reason is unit-tested.

Conventions (as cert-manager and prometheus-operator): type, status True/False/Unknown, a
CamelCase reason, a human message, lastTransitionTime that moves only when status moves,
and the generation it describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..audit import Finding, Severity
from ..probe import Check, CheckStatus, ProbeResult
from .models import Condition, ConditionStatus

READY, REACHABLE, SECURE, ORIGIN_ENFORCED, INGRESS_CONFIGURED = (
    "Ready",
    "Reachable",
    "Secure",
    "OriginEnforced",
    "IngressConfigured",
)
ORDER = (READY, REACHABLE, ORIGIN_ENFORCED, SECURE, INGRESS_CONFIGURED)


@dataclass(frozen=True)
class CheckKind:
    """Which condition a check feeds, and the reason that condition takes when it fails."""

    condition: str | None
    failure_reason: str


# The check catalogue: a new probe check is one line here (ids not listed fall back by
# their prefix). Metrics need no entry: wsaudit_endpoint_check is labelled by id.
CHECKS = {
    "tls.scheme": CheckKind(SECURE, "InsecureScheme"),
    "tls.certificate": CheckKind(SECURE, "CertificateInvalid"),
    "tls.expiry": CheckKind(SECURE, "CertificateExpiring"),
    "handshake": CheckKind(REACHABLE, "HandshakeFailed"),
    "idle": CheckKind(None, "IdleConnectionCut"),
}
_BY_PREFIX = {
    "origin.": CheckKind(ORIGIN_ENFORCED, "UntrustedOriginAccepted"),
    "tls.": CheckKind(SECURE, "TlsCheckFailed"),
}


def kind_of(check_id: str) -> CheckKind:
    if check_id in CHECKS:
        return CHECKS[check_id]
    prefix = next((p for p in _BY_PREFIX if check_id.startswith(p)), None)
    return _BY_PREFIX[prefix] if prefix else CheckKind(None, f"{camel(check_id)}Failed")


def _feeding(result: ProbeResult, condition: str) -> list[Check]:
    return [c for c in result.checks if kind_of(c.id).condition == condition]


@dataclass(frozen=True)
class Verdict:
    """A condition before its timestamps are settled."""

    type: str
    status: ConditionStatus
    reason: str
    message: str


def camel(identifier: str) -> str:
    """upgrade-not-forwarded -> UpgradeNotForwarded (condition reasons are CamelCase)."""
    return "".join(part.capitalize() for part in identifier.replace(".", "-").split("-") if part)


def _first(checks: Iterable[Check], status: CheckStatus) -> Check | None:
    return next((c for c in checks if c.status is status), None)


def reachable(result: ProbeResult) -> Verdict:
    handshake = result.check("handshake")
    if handshake is not None and handshake.status in (CheckStatus.PASS, CheckStatus.WARN):
        return Verdict(REACHABLE, "True", "HandshakeSucceeded", handshake.message)
    message = handshake.message if handshake else "no handshake was attempted"
    return Verdict(REACHABLE, "False", camel(result.cause or "handshake-failed"), message)


def secure(result: ProbeResult) -> Verdict:
    tls = _feeding(result, SECURE)
    failed = _first(tls, CheckStatus.FAIL)
    if failed is not None:
        return Verdict(SECURE, "False", kind_of(failed.id).failure_reason, failed.message)
    warned = _first(tls, CheckStatus.WARN)
    if warned is not None:
        return Verdict(SECURE, "False", "InsecureSchemeAllowed", warned.message)
    if tls and all(c.status is CheckStatus.PASS for c in tls):
        expiry = result.check("tls.expiry")
        detail = f"; {expiry.message}" if expiry else ""
        return Verdict(
            SECURE, "True", "CertificateValid", f"wss:// with a valid certificate{detail}"
        )
    skipped = _first(tls, CheckStatus.SKIP)
    return Verdict(SECURE, "Unknown", "NotJudged", skipped.message if skipped else "no TLS data")


def origin_enforced(result: ProbeResult) -> Verdict:
    origin = _feeding(result, ORIGIN_ENFORCED)
    failed = [c for c in origin if c.status is CheckStatus.FAIL]
    if failed:
        ids = ", ".join(c.id for c in failed)
        return Verdict(
            ORIGIN_ENFORCED,
            "False",
            "UntrustedOriginAccepted",
            f"{len(failed)} untrusted Origin case(s) accepted ({ids}): {failed[0].message}",
        )
    if all(c.status is CheckStatus.SKIP for c in origin):
        message = origin[0].message if origin else "no untrusted Origin was tried"
        return Verdict(ORIGIN_ENFORCED, "Unknown", "NotJudged", message)
    warned = [c.id for c in origin if c.status is CheckStatus.WARN]
    note = f" (warnings: {', '.join(warned)})" if warned else ""
    return Verdict(
        ORIGIN_ENFORCED,
        "True",
        "UntrustedOriginsRefused",
        f"every untrusted Origin was refused{note}",
    )


def ingress_configured(findings: Sequence[Finding] | None, ingress: str) -> Verdict:
    """None means the Ingress was referenced but not found."""
    if findings is None:
        return Verdict(
            INGRESS_CONFIGURED,
            "False",
            "IngressNotFound",
            f"Ingress {ingress} does not exist (or is not visible to wsaudit)",
        )
    problems = [f for f in findings if f.severity >= Severity.WARNING]
    if not problems:
        return Verdict(
            INGRESS_CONFIGURED, "True", "IngressReady", f"Ingress {ingress} is WebSocket-ready"
        )
    rules = ", ".join(f.rule for f in problems)
    reason = (
        "IngressMisconfigured"
        if any(f.severity is Severity.ERROR for f in problems)
        else (
            "IngressTimeoutsShort"
            if all("timeout" in f.rule for f in problems)
            else "IngressWarnings"
        )
    )
    return Verdict(
        INGRESS_CONFIGURED,
        "False",
        reason,
        f"Ingress {ingress}: {rules}: {problems[0].message}; fix: {problems[0].fix}",
    )


# A ws:// endpoint whose spec says TLS is not required is reported (Secure=False) but does not
# keep it from being Ready: the user chose it.
_ACCEPTED = {"InsecureSchemeAllowed"}


def ready(parts: Sequence[Verdict]) -> Verdict:
    parts = [part for part in parts if part.reason not in _ACCEPTED]
    for part in parts:
        if part.status == "False":
            return Verdict(READY, "False", part.reason, f"{part.type}: {part.message}")
    for part in parts:
        if part.status == "Unknown":
            return Verdict(READY, "Unknown", part.reason, f"{part.type}: {part.message}")
    return Verdict(READY, "True", "AllChecksPassed", "reachable, secure and origin-enforced")


def probe_verdicts(result: ProbeResult, ingress: Verdict | None) -> list[Verdict]:
    # Ready names the first problem in this order: nothing matters if the endpoint is
    # unreachable, and a hijackable socket is worse than a plaintext one.
    parts = [reachable(result), origin_enforced(result), secure(result)]
    if ingress is not None:
        parts.append(ingress)
    return [ready(parts), *parts]


def blocked_verdicts(reason: str, message: str, previous_types: Iterable[str]) -> list[Verdict]:
    """Ready=False (and the others Unknown) when no probe could run: a missing Secret, an
    invalid spec. The user reads the reason on Ready."""
    others = [t for t in ORDER[1:] if t in set(previous_types) or t != INGRESS_CONFIGURED]
    return [Verdict(READY, "False", reason, message)] + [
        Verdict(t, "Unknown", reason, f"not probed: {message}") for t in others
    ]


def suspended_verdicts(previous: Sequence[Condition]) -> list[Verdict]:
    """Suspending keeps what the last probe found; only Ready says that probing is paused."""
    kept = [Verdict(c.type, c.status, c.reason, c.message) for c in previous if c.type != READY]
    return [Verdict(READY, "Unknown", "Suspended", "probing is suspended (spec.suspend)"), *kept]


def settle(
    verdicts: Sequence[Verdict],
    previous: Sequence[Condition],
    generation: int | None,
    now: str,
) -> tuple[list[Condition], list[Verdict]]:
    """Conditions with timestamps carried over unless the status changed; also returns the
    verdicts whose status changed (what deserves an Event)."""
    before = {c.type: c for c in previous}
    conditions: list[Condition] = []
    changed: list[Verdict] = []
    for verdict in verdicts:
        old = before.get(verdict.type)
        moved = old is None or old.status != verdict.status
        if moved:
            changed.append(verdict)
        conditions.append(
            Condition(
                type=verdict.type,
                status=verdict.status,
                reason=verdict.reason,
                message=verdict.message[:32000],
                last_transition_time=now if moved or old is None else old.last_transition_time,
                observed_generation=generation,
            )
        )
    return conditions, changed

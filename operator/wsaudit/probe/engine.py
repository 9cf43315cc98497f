"""One probe of one endpoint: guard, handshakes, TLS, origin cases, idle hold -> checks."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import time
from collections.abc import Sequence

from .browser import site_relation
from .cases import try_cases
from .classify import (
    Attempt,
    Controls,
    certificate_checks,
    handshake_check,
    origin_check,
    scheme_check,
)
from .config import PreparedProbe, prepare
from .guard import AddressGuard, GuardError, IPAddress, ResolveError, Resolver, resolve
from .handshake import Endpoint, Failure, HandshakeOutcome, handshake, opened
from .idle import hold_idle
from .models import Check, CheckStatus, ProbeConfig, ProbeResult
from .origins import OriginCase, untrusted_cases
from .tls import describe_chain, fetch_certificate

log = logging.getLogger(__name__)

# Untrusted-Origin handshakes run side by side, but few at a time, so that a probe never
# looks like a flood to the server or its rate limiter; many allowed origins (each with
# its own variants) raise it up to the maximum so the matrix fits in the deadline.
ORIGIN_CASE_CONCURRENCY = 4
MAX_ORIGIN_CASE_CONCURRENCY = 8
_CASES_PER_EXTRA_SLOT = 12
# Control requests go where no handler may be (a random path, a plain GET to a WebSocket
# route): some servers never answer there, so they get a short budget of their own.
CONTROL_SECONDS = 2.0


async def probe(
    config: ProbeConfig, guard: AddressGuard | None = None, resolver: Resolver | None = None
) -> ProbeResult:
    """Probes one endpoint. Raises ProbeConfigError for invalid input, before any I/O.

    Everything the endpoint does (refuse, hang, reset, send garbage) becomes a classified
    check; the whole probe ends within `config.timeout` (plus `idle_seconds` when set).
    """
    prepared = prepare(config)
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + config.timeout
    try:
        result = await _run(prepared, guard or AddressGuard(), deadline, resolver)
    except Exception as exc:
        log.exception("probe of %s failed unexpectedly", config.url)
        result = probe_error(config, exc)
    result.timings["total"] = time.perf_counter() - started
    return result


def probe_error(config: ProbeConfig, exc: BaseException) -> ProbeResult:
    """A probe that raised: a failed handshake check with cause probe-error, so that the
    endpoint is reported down (and its series kept) instead of going silent."""
    message = (
        f"the probe itself failed ({type(exc).__name__}); this is a wsaudit bug: please "
        "report it with the endpoint's URL shape"
    )
    return ProbeResult(
        url=config.url,
        checks=[Check("handshake", CheckStatus.FAIL, message, {"cause": "probe-error"})],
        timings={},
        cause="probe-error",
    )


async def _run(
    prepared: PreparedProbe, guard: AddressGuard, deadline: float, resolver: Resolver | None
) -> ProbeResult:
    config, target = prepared.config, prepared.target
    scheme = scheme_check(target.secure, config.tls_required)
    resolve_started = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            resolved = await resolve(prepared.connect_host, prepared.connect_port, resolver)
            addresses = guard.check_all(resolved)
    except (ResolveError, GuardError, TimeoutError) as exc:
        failure = {ResolveError: Failure.DNS, GuardError: Failure.TARGET_REFUSED}.get(
            type(exc), Failure.TIMEOUT
        )
        detail = str(exc) or f"{prepared.connect_host} did not resolve in time"
        outcome = HandshakeOutcome(
            origin=str(prepared.allowed[0]),
            failure=failure,
            failure_detail=detail,
            failure_phase="dns",
        )
        return _unreachable(prepared, scheme, outcome, time.perf_counter() - resolve_started)
    dns_seconds = time.perf_counter() - resolve_started

    endpoint = Endpoint(
        target=target,
        addresses=tuple(addresses),
        ssl_context=prepared.ssl_context,
        headers=prepared.headers,
        subprotocols=config.subprotocols,
        port=prepared.connect_port,
    )
    primaries = list(
        await asyncio.gather(*(handshake(endpoint, str(o), deadline) for o in prepared.allowed))
    )
    cases = untrusted_cases(list(prepared.allowed), list(prepared.rejected), config.bypass_checks)
    reachable = any(p.answered for p in primaries)
    case_outcomes: list[HandshakeOutcome | None] = [None] * len(cases)
    controls = Controls(own_origin=target.own_origin)
    concurrency = case_concurrency(len(cases))
    if reachable:
        # An allowed Origin the server accepted proves what reused connections answer.
        proof = next((p.origin for p in primaries if p.accepted), None)
        tried = try_cases(endpoint, cases, deadline, concurrency, proof_origin=proof)
        if all(p.accepted for p in primaries):
            case_outcomes = await tried
        else:
            refused = next(p for p in primaries if not p.accepted)
            case_outcomes, controls = await asyncio.gather(
                tried, _controls(endpoint, refused.origin, deadline)
            )
    budget = (
        f" within the {config.timeout:g} s deadline ({len(cases)} Origin cases, "
        f"{concurrency} at a time); raise the timeout"
    )

    # The address a handshake reached: `localhost` resolves to ::1 and 127.0.0.1 and a
    # server may listen on one only.
    address = next((p.address for p in primaries if p.address is not None), addresses[0])
    checks = [scheme, *await _tls_checks(prepared, primaries[0], address, deadline)]
    if config.bearer_token is not None and (not target.secure or config.insecure_skip_verify):
        checks.append(
            Check(
                "auth.transport",
                CheckStatus.WARN,
                "the bearer token was sent over "
                + ("ws://" if not target.secure else "TLS whose certificate is not verified")
                + " (allowed by auth.allowInsecureTransport): anyone on the path can read it",
            )
        )
    handshake_result, cause = handshake_check(
        primaries,
        [o for o in case_outcomes if o is not None],
        config.timeout,
        config.subprotocols,
        controls=controls,
        sites=[site_relation(str(o), target) for o in prepared.allowed],
    )
    checks.append(handshake_result)
    checks.extend(
        _origin_checks(
            prepared,
            cases,
            case_outcomes,
            primaries,
            require_origin_header=config.require_origin_header,
            budget=budget,
        )
    )
    if config.idle_seconds is not None:
        checks.append(await _idle_check(endpoint, prepared, primaries, config.idle_seconds))
    return ProbeResult(
        url=config.url,
        checks=checks,
        timings={"dns": dns_seconds, **primaries[0].timings},
        address=str(address),
        cause=cause.id if cause else None,
    )


def case_concurrency(cases: int) -> int:
    extra = max(0, cases - _CASES_PER_EXTRA_SLOT) // _CASES_PER_EXTRA_SLOT
    return min(MAX_ORIGIN_CASE_CONCURRENCY, ORIGIN_CASE_CONCURRENCY + extra)


def sibling_resource(resource: str) -> str:
    """A path next to the probed one that no server routes: /ws -> /wsaudit-1a2b3c4d, with
    the same query (Socket.IO's EIO and transport parameters stay)."""
    path, mark, query = resource.partition("?")
    parent = path[: path.rstrip("/").rfind("/") + 1] or "/"
    name = f"wsaudit-{os.urandom(4).hex()}" + ("/" if path.endswith("/") and path != "/" else "")
    return f"{parent}{name}{mark}{query}"


async def _controls(endpoint: Endpoint, origin: str | None, deadline: float) -> Controls:
    """The control requests for a refused allowed Origin: the same request without Upgrade,
    and the upgrade on a sibling path."""
    budget = min(deadline, asyncio.get_running_loop().time() + CONTROL_SECONDS)
    plain, sibling = await asyncio.gather(
        handshake(endpoint, origin, budget, upgrade=False),
        handshake(endpoint, origin, budget, resource=sibling_resource(endpoint.target.resource)),
    )
    return Controls(plain=plain, sibling=sibling, own_origin=endpoint.target.own_origin)


def _origin_checks(
    prepared: PreparedProbe,
    cases: Sequence[OriginCase],
    outcomes: Sequence[HandshakeOutcome | None],
    primaries: Sequence[HandshakeOutcome],
    *,
    require_origin_header: bool,
    budget: str,
) -> list[Check]:
    grouped: dict[str, list[Attempt]] = {}
    for case, outcome in zip(cases, outcomes, strict=True):
        site = site_relation(case.origin, prepared.target)
        grouped.setdefault(case.check_id, []).append(Attempt(case, outcome, site))
    allowed_accepted = all(p.accepted for p in primaries)
    return [
        origin_check(
            check_id,
            attempts,
            allowed_accepted=allowed_accepted,
            require_origin_header=require_origin_header,
            budget=budget,
        )
        for check_id, attempts in grouped.items()
    ]


async def _tls_checks(
    prepared: PreparedProbe, primary: HandshakeOutcome, address: IPAddress, deadline: float
) -> list[Check]:
    config, target = prepared.config, prepared.target
    der = primary.tls.certificate_der if primary.tls else None
    if der is None and primary.certificate_error is not None:
        # Verification failed, so there is no session to read; look at what the server
        # presents, unverified, only to say what is wrong with it.
        der = await fetch_certificate(address, prepared.connect_port, target.host, deadline)
    transport_error = primary.failure_detail if primary.failure is not None else None
    chain = (
        primary.tls.chain_der if primary.tls and primary.tls.chain_der else (der,) if der else ()
    )
    return certificate_checks(
        secure=target.secure,
        insecure_skip_verify=config.insecure_skip_verify,
        verified_session=primary.tls is not None and not config.insecure_skip_verify,
        tls_version=primary.tls.version if primary.tls else None,
        verification_error=primary.certificate_error,
        transport_error=transport_error,
        certificate=describe_chain(chain) if chain else None,
        host=target.host,
        min_days=config.min_certificate_days,
        now=datetime.datetime.now(datetime.UTC),
    )


async def _idle_check(
    endpoint: Endpoint,
    prepared: PreparedProbe,
    primaries: Sequence[HandshakeOutcome],
    seconds: float,
) -> Check:
    if not primaries[0].accepted:
        return Check("idle", CheckStatus.SKIP, "not judged: the handshake failed")
    deadline = asyncio.get_running_loop().time() + prepared.config.timeout
    async with opened(endpoint, str(prepared.allowed[0]), deadline) as (outcome, socket):
        if socket is None:
            return Check(
                "idle",
                CheckStatus.SKIP,
                "not judged: the second handshake failed "
                f"({outcome.failure_detail or outcome.status})",
            )
        return await hold_idle(socket, seconds)


def _unreachable(
    prepared: PreparedProbe, scheme: Check, outcome: HandshakeOutcome, dns_seconds: float
) -> ProbeResult:
    """Checks for a target that was never connected to: only the handshake can fail."""
    config = prepared.config
    check, cause = handshake_check([outcome], [], config.timeout, ())
    cases = untrusted_cases(list(prepared.allowed), list(prepared.rejected), config.bypass_checks)
    not_tried: list[HandshakeOutcome | None] = [None] * len(cases)
    checks = [
        scheme,
        *certificate_checks(
            secure=prepared.target.secure,
            insecure_skip_verify=config.insecure_skip_verify,
            verified_session=False,
            tls_version=None,
            verification_error=None,
            transport_error=outcome.failure_detail,
            certificate=None,
            host=prepared.target.host,
            min_days=config.min_certificate_days,
            now=datetime.datetime.now(datetime.UTC),
        ),
        check,
        *_origin_checks(
            prepared,
            cases,
            not_tried,
            [outcome],
            require_origin_header=config.require_origin_header,
            budget="",
        ),
    ]
    if config.idle_seconds is not None:
        checks.append(Check("idle", CheckStatus.SKIP, "not judged: no connection was made"))
    return ProbeResult(
        url=config.url,
        checks=checks,
        timings={"dns": dns_seconds},
        address=None,
        cause=cause.id if cause else None,
    )

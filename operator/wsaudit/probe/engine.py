"""One probe of one endpoint: guard, handshakes, TLS, origin cases, idle hold -> checks."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Sequence

from .classify import certificate_checks, handshake_check, origin_check, scheme_check
from .config import PreparedProbe, prepare
from .guard import AddressGuard, GuardError, IPAddress, ResolveError, resolve
from .handshake import Endpoint, Failure, HandshakeOutcome, handshake, opened
from .idle import hold_idle
from .models import Check, CheckStatus, ProbeConfig, ProbeResult
from .origins import OriginCase, untrusted_cases
from .tls import describe_certificate, fetch_certificate

# Untrusted-Origin handshakes run side by side, but few at a time, so that a probe never
# looks like a flood to the server or its rate limiter.
ORIGIN_CASE_CONCURRENCY = 4


async def probe(config: ProbeConfig, guard: AddressGuard | None = None) -> ProbeResult:
    """Probes one endpoint. Raises ProbeConfigError for invalid input, before any I/O.

    Everything the endpoint does (refuse, hang, reset, send garbage) becomes a classified
    check; the whole probe ends within `config.timeout` (plus `idle_seconds` when set).
    """
    prepared = prepare(config)
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + config.timeout
    result = await _run(prepared, guard or AddressGuard(), deadline)
    result.timings["total"] = time.perf_counter() - started
    return result


async def _run(prepared: PreparedProbe, guard: AddressGuard, deadline: float) -> ProbeResult:
    config, target = prepared.config, prepared.target
    scheme = scheme_check(target.secure, config.tls_required)
    resolve_started = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            addresses = guard.check_all(await resolve(target.host, target.port))
    except (ResolveError, GuardError, TimeoutError) as exc:
        failure = {ResolveError: Failure.DNS, GuardError: Failure.TARGET_REFUSED}.get(
            type(exc), Failure.TIMEOUT
        )
        detail = str(exc) or f"{target.host} did not resolve in time"
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
    )
    primaries = list(
        await asyncio.gather(*(handshake(endpoint, str(o), deadline) for o in prepared.allowed))
    )
    cases = untrusted_cases(list(prepared.allowed), list(prepared.rejected), config.bypass_checks)
    reachable = any(p.answered for p in primaries)
    case_outcomes: list[HandshakeOutcome | None] = [None] * len(cases)
    if reachable:
        case_outcomes = await _try_cases(endpoint, cases, deadline)

    checks = [scheme, *await _tls_checks(prepared, primaries[0], addresses[0], deadline)]
    handshake_result, cause = handshake_check(
        primaries,
        [o for o in case_outcomes if o is not None],
        config.timeout,
        config.subprotocols,
    )
    checks.append(handshake_result)
    checks.extend(_origin_checks(cases, case_outcomes, primaries, config.require_origin_header))
    if config.idle_seconds is not None:
        checks.append(await _idle_check(endpoint, prepared, primaries, config.idle_seconds))
    return ProbeResult(
        url=config.url,
        checks=checks,
        timings={"dns": dns_seconds, **primaries[0].timings},
        address=str(addresses[0]),
        cause=cause.id if cause else None,
    )


async def _try_cases(
    endpoint: Endpoint, cases: Sequence[OriginCase], deadline: float
) -> list[HandshakeOutcome | None]:
    limit = asyncio.Semaphore(ORIGIN_CASE_CONCURRENCY)

    async def attempt(case: OriginCase) -> HandshakeOutcome | None:
        async with limit:
            return await handshake(endpoint, case.origin, deadline)

    return list(await asyncio.gather(*(attempt(case) for case in cases)))


def _origin_checks(
    cases: Sequence[OriginCase],
    outcomes: Sequence[HandshakeOutcome | None],
    primaries: Sequence[HandshakeOutcome],
    require_origin_header: bool,
) -> list[Check]:
    grouped: dict[str, list[tuple[OriginCase, HandshakeOutcome | None]]] = {}
    for case, outcome in zip(cases, outcomes, strict=True):
        grouped.setdefault(case.check_id, []).append((case, outcome))
    allowed_upgraded = all(p.upgraded for p in primaries)
    return [
        origin_check(
            check_id,
            attempts,
            allowed_upgraded=allowed_upgraded,
            require_origin_header=require_origin_header,
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
        der = await fetch_certificate(address, target.port, target.host, deadline)
    transport_error = primary.failure_detail if primary.failure is not None else None
    return certificate_checks(
        secure=target.secure,
        insecure_skip_verify=config.insecure_skip_verify,
        verified_session=primary.tls is not None and not config.insecure_skip_verify,
        tls_version=primary.tls.version if primary.tls else None,
        verification_error=primary.certificate_error,
        transport_error=transport_error,
        certificate=describe_certificate(der) if der else None,
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
    if not primaries[0].upgraded:
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
        *_origin_checks(cases, [None] * len(cases), [outcome], config.require_origin_header),
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

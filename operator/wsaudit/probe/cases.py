"""The untrusted-Origin cases of one probe, over kept-alive connections where the server
keeps them, with every verdict exactly as new connections would have it.

Each case used to cost a TCP (and TLS) handshake of its own: ten or more per probe, most of
a probe's CPU. Most servers and proxies keep an HTTP/1.1 connection open after a refusal
(tests/frameworks: gorilla, Spring, Tornado, Jetty, coder/websocket, aiohttp, nginx), so the
next case goes over it. HTTP says each request on a connection is judged alone, but a server
may keep state per connection, so an answer over a reused connection is kept only when:
- it is a refusal (an acceptance over a reused connection could come from a server that
  checks only a connection's first request: it is tried again over a new connection), and
- the allowed Origin, sent last over the same connection, still gets a valid 101, which
  shows the server did not just refuse everything after the first refusal (a chain whose
  connection ends in any other way has its cases tried again over new connections).
Without an accepted allowed Origin there is no such proof, so nothing is reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from .handshake import (
    Endpoint,
    HandshakeOutcome,
    KeptAlive,
    case_handshake,
    close_kept,
    handshake,
    upgrades_over,
)
from .origins import OriginCase


@dataclass
class _Chain:
    """A kept-alive connection and the cases whose refusals came over it unproven."""

    connection: KeptAlive
    answered: list[int] = field(default_factory=list)


async def try_cases(
    endpoint: Endpoint,
    cases: Sequence[OriginCase],
    deadline: float,
    concurrency: int,
    *,
    proof_origin: str | None,
) -> list[HandshakeOutcome | None]:
    """Every case, `concurrency` at a time (None: not tried before the deadline). With
    `proof_origin` (an allowed Origin the server accepted), refusals the server keeps the
    connection open after carry the next case; without it, every case gets a new one."""
    loop = asyncio.get_running_loop()
    limit = asyncio.Semaphore(concurrency)
    outcomes: list[HandshakeOutcome | None] = [None] * len(cases)
    idle: list[_Chain] = []
    unproven: list[int] = []

    async def fresh(index: int) -> None:
        async with limit:
            if loop.time() < deadline:  # no connection is opened after the deadline
                outcomes[index] = await handshake(endpoint, cases[index].origin, deadline)

    async def over_kept(index: int) -> None:
        async with limit:
            if loop.time() >= deadline:
                return
            chain = idle.pop() if idle else None
            answer = await case_handshake(
                endpoint, cases[index].origin, deadline, chain.connection if chain else None
            )
            outcomes[index] = answer.outcome
            answered = chain.answered if chain is not None and answer.reused else []
            if chain is not None and not answer.reused:
                unproven.extend(chain.answered)  # its connection ended without the proof
            if answer.reused:
                answered.append(index)
            if answer.kept is not None:
                idle.append(_Chain(answer.kept, answered))
            else:
                unproven.extend(answered)

    if proof_origin is None:
        await asyncio.gather(*(fresh(index) for index in range(len(cases))))
        return outcomes
    try:
        await asyncio.gather(*(over_kept(index) for index in range(len(cases))))
        chains, idle[:] = list(idle), []
    finally:
        await close_kept([chain.connection for chain in idle], deadline)
    proofs = await asyncio.gather(
        *(upgrades_over(chain.connection, endpoint, proof_origin, deadline) for chain in chains)
    )
    for chain, proven in zip(chains, proofs, strict=True):
        if not proven:
            unproven.extend(chain.answered)
    for index in unproven:
        outcomes[index] = None
    await asyncio.gather(*(fresh(index) for index in unproven))
    return outcomes

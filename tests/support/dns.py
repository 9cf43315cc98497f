"""DNS servers of the tests' own: dnslib on an asyncio UDP socket, answering each A and AAAA
query from a function of the name and type, with TTL 0 so that no cache can keep an answer
from one lookup to the next. A function that returns None leaves the query unanswered (a
tenant's name server that never answers)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

from dnslib import AAAA, QTYPE, RR, A, DNSError, DNSRecord

# (name without the trailing dot, "A" or "AAAA") -> addresses of that family to answer, or
# None: no answer at all.
Answers = Callable[[str, str], Sequence[str] | None]


@dataclass(frozen=True)
class Query:
    name: str
    qtype: str
    answered: tuple[str, ...] | None  # None: left unanswered
    at: float  # time.monotonic()


def never(name: str, qtype: str) -> None:
    """A name server that takes every query and answers none."""


def fixed(*addresses: str) -> Answers:
    """Every name resolves to `addresses`."""
    return lambda name, qtype: addresses


@dataclass
class Rebinding:
    """Answers a name with `first` for its first `switch_after` queries of each type, and
    with `then` from there on: what an attacker's name server does to a client that checks
    one lookup and connects after another."""

    first: Sequence[str]
    then: Sequence[str]
    switch_after: int = 1
    _seen: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __call__(self, name: str, qtype: str) -> Sequence[str]:
        self._seen[name, qtype] += 1
        return self.first if self._seen[name, qtype] <= self.switch_after else self.then


_RECORDS = {"A": (QTYPE.A, A, 4), "AAAA": (QTYPE.AAAA, AAAA, 6)}


class DnsServer(asyncio.DatagramProtocol):
    def __init__(self, answers: Answers) -> None:
        self.answers = answers
        self.queries: list[Query] = []
        self.nameserver = ""  # "IP:PORT", once listening
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        host, port = transport.get_extra_info("sockname")[:2]
        self.nameserver = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            request = DNSRecord.parse(data)
        except DNSError:
            return
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        qtype = QTYPE.get(question.qtype)
        addresses = self.answers(name, qtype)
        if addresses is None:
            self.queries.append(Query(name, qtype, None, time.monotonic()))
            return
        reply = request.reply()
        matching = []
        if qtype in _RECORDS:
            rtype, rdata, version = _RECORDS[qtype]
            for text in addresses:
                address = ipaddress.ip_address(text)
                if address.version == version:
                    # Packed: dnslib parses no dotted IPv4 inside IPv6 text (::ffff:a.b.c.d).
                    record = rdata(tuple(address.packed))
                    reply.add_answer(RR(question.qname, rtype, rdata=record, ttl=0))
                    matching.append(text)
        self.queries.append(Query(name, qtype, tuple(matching), time.monotonic()))
        if self._transport is not None:
            self._transport.sendto(reply.pack(), addr)


@contextlib.asynccontextmanager
async def dns_server(
    answers: Answers, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[DnsServer]:
    """A DNS server on UDP `host`:`port` (0: any free port); its `nameserver` is what
    `wsaudit.probe.guard.Resolver(nameservers=...)` takes."""
    transport, server = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: DnsServer(answers), local_addr=(host, port)
    )
    try:
        yield server
    finally:
        transport.close()

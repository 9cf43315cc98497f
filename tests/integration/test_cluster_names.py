"""A name that resolves to one of the cluster's own addresses is refused like the address
itself: the operator's guard (cluster ranges as detected from the API server, with
--allow-private as in clusters whose Services are in private ranges) judges the DNS answer,
including an IPv4-mapped AAAA answer, a mixed answer and a name that rebinds between
lookups. The answers come from a DNS server of the test's own; listeners on the cluster's
addresses count connections.

The e2e test (tests/e2e/test_cluster_reach.py) proves the same for IP literals through the
operator; names need a DNS server the operator's c-ares resolver asks, which is the
Resolver's `nameservers` here."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import pytest

from support.dns import Rebinding, dns_server, fixed
from wsaudit.probe import ProbeConfig, probe
from wsaudit.probe.guard import AddressGuard, ClusterRange, Resolver

pytestmark = pytest.mark.integration

API_SERVER = "127.0.63.1"
NODE = "127.0.63.2"
IN_SERVICE_RANGE = "127.0.64.9"
OWN_CLUSTER_IP = "127.0.64.10"  # a Service of the endpoint's own namespace
ALLOWED = "127.0.65.1"  # e.g. a pod, or the ingress controller's load balancer

CLUSTER = (
    ClusterRange(
        ipaddress.ip_network(f"{API_SERVER}/32"), "api-server", "Service default/kubernetes"
    ),
    ClusterRange(ipaddress.ip_network(f"{NODE}/32"), "nodes", "Node n1"),
    ClusterRange(ipaddress.ip_network("127.0.64.0/24"), "services", "ServiceCIDR kubernetes"),
)
GUARD = AddressGuard(
    allow_private=True, cluster=CLUSTER, exempt=frozenset({ipaddress.ip_address(OWN_CLUSTER_IP)})
)


class Counting:
    """A listener answering 404 to every request, counting connections."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


class Listeners(dict[str, Counting]):
    """A counting listener per address, all on one port (the URL names only the host)."""

    port = 0

    def connections(self) -> dict[str, int]:
        return {address: listener.connections for address, listener in self.items()}

    async def probe(self, nameserver: str, host: str) -> str | None:
        """The probe's cause for ws://host:port/ws, `host` resolved by `nameserver`."""
        config = ProbeConfig(url=f"ws://{host}:{self.port}/ws", timeout=3.0, tls_required=False)
        result = await probe(config, GUARD, Resolver(nameservers=(nameserver,)))
        return result.cause


@pytest.fixture
async def listeners() -> AsyncIterator[Listeners]:
    running = Listeners(
        (address, Counting())
        for address in (ALLOWED, API_SERVER, NODE, IN_SERVICE_RANGE, OWN_CLUSTER_IP)
    )
    servers = []
    for address, listener in running.items():
        servers.append(await asyncio.start_server(listener.handle, address, running.port))
        running.port = servers[0].sockets[0].getsockname()[1]
    try:
        yield running
    finally:
        for server in servers:
            server.close()


@pytest.mark.parametrize(
    "answers",
    [
        (API_SERVER,),
        (NODE,),
        (f"::ffff:{NODE}",),  # an AAAA answer carrying the node's IPv4
        (IN_SERVICE_RANGE,),
        (ALLOWED, API_SERVER),  # one refused address refuses the name
    ],
    ids=["api-server", "node", "node-ipv4-mapped", "service-range", "mixed-answer"],
)
async def test_a_name_resolving_to_a_cluster_address_is_refused_without_a_connection(
    listeners: Listeners, answers: tuple[str, ...]
) -> None:
    async with dns_server(fixed(*answers)) as server:
        cause = await listeners.probe(server.nameserver, "chat.tenant.example")
    assert cause == "target-refused"
    assert listeners.connections() == dict.fromkeys(listeners, 0)


async def test_a_name_of_the_namespaces_own_service_is_probed(
    listeners: Listeners,
) -> None:
    async with dns_server(fixed(OWN_CLUSTER_IP)) as server:
        cause = await listeners.probe(server.nameserver, "chat.own-namespace.svc.example")
    assert cause == "route-not-found"  # reached: a 404 to the upgrade
    assert listeners[OWN_CLUSTER_IP].connections >= 1


async def test_a_name_rebinding_to_the_api_server_never_reaches_it(
    listeners: Listeners,
) -> None:
    """Allowed for the first lookup, the API server's address afterwards (TTL 0): each probe
    resolves once and connects to what it checked."""
    rebinding = Rebinding(first=[ALLOWED], then=[API_SERVER], switch_after=1)
    async with dns_server(rebinding) as server:
        causes = [await listeners.probe(server.nameserver, "rebind.example") for _ in range(4)]
    assert causes[0] == "route-not-found"
    assert causes[1:] == ["target-refused"] * 3
    assert listeners[ALLOWED].connections >= 1
    assert listeners[API_SERVER].connections == 0

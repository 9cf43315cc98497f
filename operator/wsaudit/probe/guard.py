"""The target guard: which resolved addresses a probe may connect to.

The prober runs inside a cluster with credentials and a view of internal networks, so a
WebSocketEndpoint must not become a way to reach cloud metadata or the node itself (SSRF).
Decisions are made on resolved IP addresses, never on the URL string, and the probe then
connects to exactly the address that was checked, so DNS cannot change it in between.

Names are resolved with c-ares (`aiodns`), not `loop.getaddrinfo`. getaddrinfo runs in the
default thread pool and cannot be cancelled: a tenant whose DNS never answers holds a
pool thread for the C library's own timeouts (5 s per try, per search domain: a minute
with Kubernetes' ndots:5), past the probe's deadline, and a few such tenants fill the pool
so that no probe resolves and the process cannot exit. A dedicated executor would only
move the problem (its threads still cannot be interrupted). Each lookup here gets its own
c-ares channel, closed when the lookup ends or is cancelled by the probe's deadline, which
drops its queries at once; no thread is shared, `MAX_CONCURRENT_LOOKUPS` caps how many
channels exist, and c-ares honours /etc/hosts, resolv.conf's name servers, search domains
and ndots as the C library does (NSS modules such as mDNS are not consulted).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import aiodns

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

log = logging.getLogger(__name__)

# The cluster's own addresses, by kind; each kind can be lifted on its own (an on-premises
# ingress controller often listens on the nodes' addresses).
ClusterKind = Literal["api-server", "nodes", "services"]
CLUSTER_KINDS: tuple[ClusterKind, ...] = ("api-server", "nodes", "services")
_CLUSTER_WORDS: dict[ClusterKind, str] = {
    "api-server": "an address of the cluster's API server",
    "nodes": "a node's address",
    "services": "in the cluster's Service range",
}

# What a tenant reads for every refusal: it names the classes of refused addresses, never
# which one matched, so that the status cannot tell a node from the API server; the
# operator's log has the range and where it came from.
TENANT_REFUSAL = (
    "the address is one the operator does not probe: loopback, link-local, cloud metadata, "
    "a range the cluster administrator denied, or the cluster's own API server, nodes or "
    "Service range; the operator's log names the range (ask the cluster administrator if "
    "this endpoint must be probed)"
)

# Built-in refusals, each with the reason a user reads. Private ranges (10/8, ...) are not
# here: in-cluster Services live there and probing them is the point.
DEFAULT_DENIED: tuple[tuple[str, str], ...] = (
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata lives at 169.254.169.254)"),
    ("fe80::/10", "link-local"),
    ("fd00:ec2::254/128", "cloud metadata (AWS IPv6)"),
    ("100.100.100.200/32", "cloud metadata (Alibaba Cloud)"),
    ("0.0.0.0/8", "unspecified ('this host')"),
    ("::/128", "unspecified"),
    ("224.0.0.0/4", "multicast"),
    ("ff00::/8", "multicast"),
    ("255.255.255.255/32", "broadcast"),
)


class GuardError(Exception):
    """The target resolved to an address the guard refuses; the message says which and why."""


class ResolveError(Exception):
    """The host name did not resolve."""


def parse_network(cidr: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{cidr!r} is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)") from None


_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
_SIIT = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 IPv4-translated
_LOW32 = 0xFFFFFFFF


def _rfc6052(packed: int, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address of an RFC 6052 IPv4-embedded address with the given prefix length:
    bits 64-71 (the `u` octet) are skipped, the IPv4 follows the prefix."""
    if prefix_length == 96:
        return ipaddress.IPv4Address(packed & _LOW32)
    without_u = ((packed >> 64) << 56) | (packed & ((1 << 56) - 1))  # 120 bits
    return ipaddress.IPv4Address((without_u >> (120 - prefix_length - 32)) & _LOW32)


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """Every IPv4 address an IPv6 one carries, by each scheme that routes it to IPv4:
    IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), SIIT (::ffff:0:a.b.c.d),
    NAT64 (64:ff9b::/96, and 64:ff9b:1::/48 at each RFC 6052 prefix length, the last 32
    bits included), 6to4 (2002::/16, bits 16-47) and Teredo (2001::/32: the server at bits
    32-63, the client in the last 32 bits, inverted)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return ()
    packed = int(address)
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    elif packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible form
        found.append(ipaddress.IPv4Address(packed))
    elif address in _SIIT or address in _NAT64_WELL_KNOWN:
        found.append(ipaddress.IPv4Address(packed & _LOW32))
    elif address in _NAT64_LOCAL_USE:
        found.extend(_rfc6052(packed, length) for length in (48, 56, 64, 96))
    elif address.sixtofour is not None:
        found.append(address.sixtofour)
    elif address.teredo is not None:
        found.extend(address.teredo)
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class ClusterRange:
    """One of the cluster's own addresses or ranges, with what it is and which object
    named it (for the operator's log)."""

    network: IPNetwork
    kind: ClusterKind
    source: str


@dataclass(frozen=True)
class AddressGuard:
    """Refuses addresses in the built-in ranges (unless `allow_private`), in `denied`, and
    the cluster's own addresses in `cluster` (even with `allow_private`), except the
    `exempt` ones of the Service range (a namespace's own ClusterIPs). `closed` refuses
    everything, with that reason: the cluster's addresses are not known."""

    allow_private: bool = False
    denied: tuple[IPNetwork, ...] = field(default_factory=tuple)
    cluster: tuple[ClusterRange, ...] = field(default_factory=tuple)
    exempt: frozenset[IPAddress] = field(default_factory=frozenset)
    closed: str | None = None

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be probed, or None when it may."""
        found = self._refusal(address)
        return found[0] if found else None

    def _refusal(self, address: IPAddress) -> tuple[str, str] | None:
        """(why, how an administrator lifts it) for a refused address."""
        if self.closed is not None:
            return (
                f"{address} was not checked: {self.closed}",
                "the operator's RBAC for them (docs/operator.md), or --allow-cluster-addresses",
            )
        candidates: list[IPAddress] = [address, *embedded_ipv4(address)]
        for candidate in candidates:
            subject = (
                f"{address}" if candidate is address else f"{address} carries {candidate}, which"
            )
            for network in self.denied:
                if _contains(network, candidate):
                    return f"{subject} is in the denied range {network}", "--deny-cidr"
            for item in self.cluster:
                if item.kind == "services" and candidate in self.exempt:
                    continue
                if _contains(item.network, candidate):
                    return (
                        f"{subject} is {_CLUSTER_WORDS[item.kind]} ({item.network}, from "
                        f"{item.source})",
                        f"--allow-cluster-addresses {item.kind}",
                    )
            if self.allow_private:
                continue
            for cidr, reason in DEFAULT_DENIED:
                if _contains(ipaddress.ip_network(cidr), candidate):
                    return f"{subject} is {reason}", "--allow-private"
        return None

    def check_all(self, addresses: Iterable[IPAddress]) -> list[IPAddress]:
        """Every address must pass: a host that resolves to one refused address is refused.
        The refusal is logged (at info: the CLI's user reads the error itself)."""
        checked = list(addresses)
        for address in checked:
            found = self._refusal(address)
            if found is not None:
                reason, lifted_by = found
                log.info("refused to probe %s (lifted by %s)", reason, lifted_by)
                raise GuardError(
                    f"refused to probe: {reason}; probing it could reach the node, the "
                    f"cluster or cloud metadata (a trusted target: {lifted_by})"
                )
        return checked


def _contains(network: IPNetwork, address: IPAddress) -> bool:
    return address.version == network.version and address in network


def literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes without DNS, including legacy IPv4 spellings.

    `127.1`, `0x7f000001` and `2130706433` all mean 127.0.0.1 to the C resolver, so they
    are decoded the same way here rather than trusted as names.
    """
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]  # 127.0.0.1. is 127.0.0.1 to the resolver (the root label)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(ch in "0123456789abcdefxABCDEFX." for ch in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


# Lookups in flight per event loop (each is a c-ares channel with its own thread); the
# operator's probe slots bound them too. A lookup waiting here still ends at its deadline.
MAX_CONCURRENT_LOOKUPS = 64
_lookup_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True)
class Resolver:
    """How names are resolved: the system's name servers unless `nameservers` are given
    (`IP` or `IP:PORT`). c-ares gives up by itself after `tries` of `attempt_seconds` (each
    retry waits longer); the caller's deadline usually ends a lookup first."""

    nameservers: tuple[str, ...] = ()
    attempt_seconds: float = 2.0
    tries: int = 2


def _slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _lookup_slots.get(loop)
    if slots is None:
        slots = _lookup_slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)
    return slots


async def resolve(host: str, port: int, resolver: Resolver | None = None) -> list[IPAddress]:
    """Resolves once. The caller checks the result and connects to exactly these addresses.

    Cancelling (the probe's deadline) ends the lookup at once: its channel is closed."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    settings = resolver or Resolver()
    async with _slots():
        channel = aiodns.DNSResolver(
            nameservers=list(settings.nameservers) or None,
            loop=asyncio.get_running_loop(),
            timeout=settings.attempt_seconds,
            tries=settings.tries,
        )
        try:
            result = await channel.getaddrinfo(host, port=port, type=socket.SOCK_STREAM)
        except aiodns.error.DNSError as exc:
            reason = exc.args[1] if len(exc.args) > 1 else exc
            raise ResolveError(f"{host} did not resolve ({reason})") from None
        except (UnicodeError, ValueError, TypeError) as exc:
            raise ResolveError(f"{host} did not resolve ({exc})") from None
        finally:
            await channel.close()
    addresses: list[IPAddress] = []
    for node in result.nodes:
        raw = node.addr[0]
        text = raw.decode("ascii") if isinstance(raw, bytes) else str(raw)
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ResolveError(f"{host} resolved to no address")
    return addresses

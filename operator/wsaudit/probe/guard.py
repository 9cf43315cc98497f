"""The target guard: which resolved addresses a probe may connect to.

The prober runs inside a cluster with credentials and a view of internal networks, so a
WebSocketEndpoint must not become a way to reach cloud metadata or the node itself (SSRF).
Decisions are made on resolved IP addresses, never on the URL string, and the probe then
connects to exactly the address that was checked, so DNS cannot change it in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv6 one (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible form
        return ipaddress.IPv4Address(packed)
    if address in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 well-known prefix
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressGuard:
    """Refuses addresses in the built-in ranges (unless `allow_private`) and in `denied`."""

    allow_private: bool = False
    denied: tuple[IPNetwork, ...] = field(default_factory=tuple)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be probed, or None when it may."""
        candidates: list[IPAddress] = [address]
        inner = _embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        for candidate in candidates:
            for network in self.denied:
                if candidate.version == network.version and candidate in network:
                    return f"{address} is in the denied range {network}"
            if self.allow_private:
                continue
            for cidr, reason in DEFAULT_DENIED:
                network = ipaddress.ip_network(cidr)
                if candidate.version == network.version and candidate in network:
                    return f"{address} is {reason}"
        return None

    def check_all(self, addresses: Iterable[IPAddress]) -> list[IPAddress]:
        """Every address must pass: a host that resolves to one refused address is refused."""
        checked = list(addresses)
        for address in checked:
            reason = self.refusal(address)
            if reason is not None:
                raise GuardError(
                    f"refused to probe: {reason}; probing it could reach the node or cloud "
                    "metadata (use --allow-private, or the chart's probe.allowPrivate, "
                    "for a trusted target)"
                )
        return checked


def literal_address(host: str) -> IPAddress | None:
    """The address a host string denotes without DNS, including legacy IPv4 spellings.

    `127.1`, `0x7f000001` and `2130706433` all mean 127.0.0.1 to the C resolver, so they
    are decoded the same way here rather than trusted as names.
    """
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


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Resolves once. The caller checks the result and connects to exactly these addresses."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveError(f"{host} did not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ResolveError(f"{host} resolved to no address")
    return addresses

"""The cluster's own addresses, from the objects that name them (pure: the controller reads
the objects, this decides what they mean for the probe guard).

A tenant who may create WebSocketEndpoints must not be able to make the operator connect to
the API server, a node or the Service range: those are refused even with --allow-private.
A namespace may still reach the ClusterIPs of its own Services (its pods can anyway), never
the API server's.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..probe.guard import (
    CLUSTER_KINDS,
    AddressGuard,
    ClusterKind,
    ClusterRange,
    IPAddress,
    parse_network,
)

API_SERVER_SERVICE = ("default", "kubernetes")
# Node address types that hold IPs (Hostname, InternalDNS and ExternalDNS hold names).
_NODE_IP_TYPES = ("InternalIP", "ExternalIP")


def _address(text: object) -> IPAddress | None:
    try:
        return ipaddress.ip_address(str(text).split("%", 1)[0])
    except ValueError:
        return None


def _host_ranges(addresses: Iterable[object], kind: ClusterKind, source: str) -> list[ClusterRange]:
    found = [_address(text) for text in addresses]
    return [
        ClusterRange(ipaddress.ip_network(address), kind, source)
        for address in dict.fromkeys(found)
        if address is not None
    ]


def _cluster_ips(service: Mapping[str, Any]) -> list[object]:
    """A Service's ClusterIPs (both families); none for headless or ExternalName ones."""
    spec = service.get("spec") or {}
    return list(spec.get("clusterIPs") or [spec.get("clusterIP")])


def api_server_ranges(
    service: Mapping[str, Any],
    slices: Sequence[Mapping[str, Any]],
    configured: Sequence[IPAddress] = (),
) -> tuple[ClusterRange, ...]:
    """The `default/kubernetes` Service's ClusterIPs, the addresses of its EndpointSlices
    (where the API server really listens), and the addresses the operator itself reaches it
    at (its kubeconfig's or in-cluster host)."""
    ranges = _host_ranges(_cluster_ips(service), "api-server", "Service default/kubernetes")
    for endpoint_slice in slices:
        name = (endpoint_slice.get("metadata") or {}).get("name", "")
        for endpoint in endpoint_slice.get("endpoints") or []:
            ranges += _host_ranges(
                endpoint.get("addresses") or [], "api-server", f"EndpointSlice default/{name}"
            )
    ranges += _host_ranges(configured, "api-server", "the operator's API server host")
    return _unique(ranges)


def node_ranges(nodes: Sequence[Mapping[str, Any]]) -> tuple[ClusterRange, ...]:
    """Every Node's InternalIP and ExternalIP addresses."""
    ranges: list[ClusterRange] = []
    for node in nodes:
        name = (node.get("metadata") or {}).get("name", "")
        addresses = (node.get("status") or {}).get("addresses") or []
        ranges += _host_ranges(
            (a.get("address") for a in addresses if a.get("type") in _NODE_IP_TYPES),
            "nodes",
            f"Node {name}",
        )
    return _unique(ranges)


def service_ranges(service_cidrs: Sequence[Mapping[str, Any]]) -> tuple[ClusterRange, ...]:
    """The ranges of the ServiceCIDR objects (networking.k8s.io/v1, Kubernetes 1.33+)."""
    ranges: list[ClusterRange] = []
    for service_cidr in service_cidrs:
        name = (service_cidr.get("metadata") or {}).get("name", "")
        for cidr in (service_cidr.get("spec") or {}).get("cidrs") or []:
            try:
                network = parse_network(str(cidr))
            except ValueError:
                continue  # the API server validates them; nothing to refuse in garbage
            ranges.append(ClusterRange(network, "services", f"ServiceCIDR {name}"))
    return _unique(ranges)


def _unique(ranges: Iterable[ClusterRange]) -> tuple[ClusterRange, ...]:
    """One entry per network (the first source that named it)."""
    first: dict[object, ClusterRange] = {}
    for item in ranges:
        first.setdefault(item.network, item)
    return tuple(first.values())


def own_cluster_ips(namespace: str, services: Sequence[Mapping[str, Any]]) -> frozenset[IPAddress]:
    """The ClusterIPs a namespace's endpoints may reach: its own Services', never the API
    server's (`default/kubernetes`)."""
    ips: set[IPAddress] = set()
    for service in services:
        metadata = service.get("metadata") or {}
        if (namespace, metadata.get("name")) == API_SERVER_SERVICE:
            continue
        ips.update(a for a in map(_address, _cluster_ips(service)) if a is not None)
    return frozenset(ips)


@dataclass(frozen=True)
class ClusterAddresses:
    """What the guard knows of the cluster's addresses: per kind, the ranges last detected,
    and why the latest detection of a kind failed. A kind that failed keeps its last ranges
    (addresses rarely change); a kind never detected closes the guard: every probe is
    refused until it is known, since any target could be one of those addresses."""

    kinds: frozenset[ClusterKind] = frozenset(CLUSTER_KINDS)  # those refused (not lifted)
    ranges: Mapping[ClusterKind, tuple[ClusterRange, ...]] = field(default_factory=dict)
    failures: Mapping[ClusterKind, str] = field(default_factory=dict)

    def detected(self, kind: ClusterKind, ranges: tuple[ClusterRange, ...]) -> ClusterAddresses:
        failures = {k: v for k, v in self.failures.items() if k != kind}
        return dataclasses.replace(self, ranges={**self.ranges, kind: ranges}, failures=failures)

    def failed(self, kind: ClusterKind, why: str) -> ClusterAddresses:
        return dataclasses.replace(self, failures={**self.failures, kind: why})

    @property
    def unknown(self) -> tuple[ClusterKind, ...]:
        """Refused kinds with no detection yet."""
        return tuple(
            kind for kind in CLUSTER_KINDS if kind in self.kinds and kind not in self.ranges
        )

    def guard(self, base: AddressGuard, exempt: frozenset[IPAddress] = frozenset()) -> AddressGuard:
        """`base` with the cluster's ranges (of the refused kinds) and `exempt` ClusterIPs;
        closed while a refused kind was never detected."""
        unknown = self.unknown
        closed = None
        if unknown:
            why = "; ".join(
                f"{kind}: {self.failures.get(kind, 'not detected yet')}" for kind in unknown
            )
            closed = f"the cluster's own addresses are not known ({why})"
        ranges = tuple(
            item
            for kind in CLUSTER_KINDS
            if kind in self.kinds
            for item in self.ranges.get(kind, ())
        )
        return dataclasses.replace(base, cluster=ranges, exempt=exempt, closed=closed)

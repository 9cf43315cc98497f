"""The probe guard refuses the cluster's own addresses: the API server's, the nodes', the
Service ranges; detected from the objects that name them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from wsaudit.api.cluster_addresses import (
    ClusterAddresses,
    api_server_ranges,
    node_ranges,
    own_cluster_ips,
    service_ranges,
)
from wsaudit.probe.guard import AddressGuard, ClusterRange, GuardError, literal_address

KUBERNETES_SERVICE: dict[str, Any] = {
    "metadata": {"name": "kubernetes", "namespace": "default"},
    "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1", "fd00:96::1"]},
}
API_SLICE: dict[str, Any] = {
    "metadata": {"name": "kubernetes", "labels": {"kubernetes.io/service-name": "kubernetes"}},
    "endpoints": [{"addresses": ["172.18.0.2"]}, {"addresses": ["172.18.0.3"]}],
}
NODE: dict[str, Any] = {
    "metadata": {"name": "worker-1"},
    "status": {
        "addresses": [
            {"type": "InternalIP", "address": "192.168.10.11"},
            {"type": "ExternalIP", "address": "203.0.113.11"},
            {"type": "Hostname", "address": "worker-1"},
            {"type": "InternalDNS", "address": "worker-1.internal"},
        ]
    },
}
SERVICE_CIDR: dict[str, Any] = {
    "metadata": {"name": "kubernetes"},
    "spec": {"cidrs": ["10.96.0.0/16", "fd00:96::/112"]},
}


def _detected() -> ClusterAddresses:
    state = ClusterAddresses()
    state = state.detected(
        "api-server",
        api_server_ranges(KUBERNETES_SERVICE, [API_SLICE], [ipaddress.ip_address("172.18.0.9")]),
    )
    state = state.detected("nodes", node_ranges([NODE]))
    return state.detected("services", service_ranges([SERVICE_CIDR]))


def _refusal(guard: AddressGuard, host: str) -> str | None:
    address = literal_address(host)
    assert address is not None
    return guard.refusal(address)


def test_detection_reads_every_address_of_the_api_server_nodes_and_service_ranges() -> None:
    api = api_server_ranges(KUBERNETES_SERVICE, [API_SLICE], [ipaddress.ip_address("172.18.0.9")])
    assert [(str(r.network), r.source) for r in api] == [
        ("10.96.0.1/32", "Service default/kubernetes"),
        ("fd00:96::1/128", "Service default/kubernetes"),
        ("172.18.0.2/32", "EndpointSlice default/kubernetes"),
        ("172.18.0.3/32", "EndpointSlice default/kubernetes"),
        ("172.18.0.9/32", "the operator's API server host"),
    ]
    assert [str(r.network) for r in node_ranges([NODE])] == ["192.168.10.11/32", "203.0.113.11/32"]
    assert [str(r.network) for r in service_ranges([SERVICE_CIDR])] == [
        "10.96.0.0/16",
        "fd00:96::/112",
    ]


def test_detection_skips_what_is_not_an_address() -> None:
    headless = {"metadata": {"name": "kubernetes"}, "spec": {"clusterIP": "None"}}
    assert api_server_ranges(headless, [{"metadata": {"name": "x"}}]) == ()
    assert node_ranges([{"metadata": {"name": "new"}}]) == ()  # no status yet
    assert service_ranges([{"metadata": {"name": "x"}, "spec": {"cidrs": ["nonsense"]}}]) == ()


@pytest.mark.parametrize(
    ("host", "what"),
    [
        ("10.96.0.1", "the cluster's API server"),
        ("172.18.0.2", "the cluster's API server"),
        ("172.18.0.9", "the cluster's API server"),
        ("192.168.10.11", "a node's address"),
        ("203.0.113.11", "a node's address"),
        ("10.96.44.7", "the cluster's Service range"),
        ("fd00:96::1", "the cluster's API server"),
        # The IPv4 inside IPv6 forms and legacy spellings are decoded as for the built-in
        # ranges: IPv4-mapped, NAT64, 6to4, short and hexadecimal forms.
        ("::ffff:10.96.0.1", "the cluster's API server"),
        ("64:ff9b::c0a8:a0b", "a node's address"),
        ("2002:c0a8:a0b::1", "a node's address"),
        ("10.96.11015", "the cluster's Service range"),
        ("0xac120002", "the cluster's API server"),
    ],
)
def test_cluster_addresses_are_refused_even_with_allow_private(host: str, what: str) -> None:
    guard = _detected().guard(AddressGuard(allow_private=True))
    assert what in (_refusal(guard, host) or "")


def test_the_log_names_the_range_and_the_object_and_how_to_lift_it() -> None:
    guard = _detected().guard(AddressGuard(allow_private=True))
    address = ipaddress.ip_address("192.168.10.11")
    with pytest.raises(GuardError) as refused:
        guard.check_all([address])
    assert "192.168.10.11/32, from Node worker-1" in str(refused.value)
    assert "--allow-cluster-addresses nodes" in str(refused.value)


def test_other_private_addresses_stay_probe_able() -> None:
    guard = _detected().guard(AddressGuard(allow_private=True))
    assert _refusal(guard, "10.244.1.7") is None  # a pod
    assert _refusal(guard, "192.168.10.12") is None  # not a node


def test_a_lifted_kind_is_neither_required_nor_refused() -> None:
    state = ClusterAddresses(kinds=frozenset({"api-server", "services"}))
    state = state.detected(
        "api-server", api_server_ranges(KUBERNETES_SERVICE, [API_SLICE])
    ).detected("services", service_ranges([SERVICE_CIDR]))
    guard = state.guard(AddressGuard())
    assert guard.closed is None
    assert _refusal(guard, "192.168.10.11") is None
    assert _refusal(guard, "10.96.3.3") is not None


def test_a_kind_never_detected_refuses_every_probe_with_the_reason() -> None:
    state = ClusterAddresses().detected("api-server", ()).detected("services", ())
    state = state.failed("nodes", "list Nodes: the API server answered HTTP 403 Forbidden")
    reason = _refusal(state.guard(AddressGuard(allow_private=True)), "93.184.216.34")
    assert reason is not None
    assert "nodes: list Nodes: the API server answered HTTP 403 Forbidden" in reason
    assert "not detected yet" in (
        _refusal(ClusterAddresses().guard(AddressGuard()), "1.1.1.1") or ""
    )


def test_a_failed_refresh_keeps_the_last_detected_addresses() -> None:
    state = _detected().failed("nodes", "list Nodes: TimeoutError")
    guard = state.guard(AddressGuard())
    assert guard.closed is None
    assert "a node's address" in (_refusal(guard, "192.168.10.11") or "")
    assert state.detected("nodes", ()).failures == {}


def test_a_namespace_reaches_its_own_cluster_ips_but_never_the_api_server() -> None:
    services = [
        {"metadata": {"name": "chat"}, "spec": {"clusterIP": "10.96.5.5"}},
        {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None"}},
        {"metadata": {"name": "external"}, "spec": {"type": "ExternalName"}},
    ]
    exempt = own_cluster_ips("team-a", services)
    assert exempt == frozenset({ipaddress.ip_address("10.96.5.5")})
    guard = _detected().guard(AddressGuard(), exempt)
    assert _refusal(guard, "10.96.5.5") is None
    assert _refusal(guard, "::ffff:10.96.5.5") is None
    assert _refusal(guard, "10.96.5.6") is not None  # another namespace's Service

    in_default = own_cluster_ips("default", [KUBERNETES_SERVICE, *services])
    assert ipaddress.ip_address("10.96.0.1") not in in_default
    # Even exempted, the API server's ClusterIP is refused as the API server's.
    lenient = _detected().guard(AddressGuard(), frozenset({ipaddress.ip_address("10.96.0.1")}))
    assert "the cluster's API server" in (_refusal(lenient, "10.96.0.1") or "")


def test_exemptions_lift_only_the_service_range() -> None:
    node_in_range = ClusterRange(ipaddress.ip_network("10.96.9.9/32"), "nodes", "Node odd")
    state = _detected().detected("nodes", (node_in_range,))
    guard = state.guard(AddressGuard(), frozenset({ipaddress.ip_address("10.96.9.9")}))
    assert "a node's address" in (_refusal(guard, "10.96.9.9") or "")

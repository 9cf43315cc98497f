"""A tenant cannot make the operator connect to the cluster itself: the API server (its
address and its ClusterIP), a node, the Service range; not by IP literal, not by an IPv6
form carrying it. The endpoints are written by a tenant (a client-certificate user who may
only write WebSocketEndpoints in its namespace); listeners of the test's own on those
addresses count connections.

The local control plane (hack/cluster.sh) puts the API server on 127.0.60.1 and the Service
range on 127.0.62.0/24; the Node objects here get 127.0.61.x addresses (no kubelet runs,
so their status is written by the test). The operator runs with --allow-private, as in
every e2e test: the cluster's addresses must stay refused even then.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import socketserver
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from support.cluster import Cluster
from support.operator import OperatorProcess, endpoint, running_operator, wait_for
from support.tenants import Tenant, create_tenant

pytestmark = pytest.mark.e2e

API_SERVER = "127.0.60.1"  # hack/cluster.sh's bind address (the kubeconfig's host)
API_CLUSTER_IP = "127.0.62.1"  # the kubernetes Service's ClusterIP
NODE_INTERNAL, NODE_EXTERNAL = "127.0.61.1", "127.0.61.2"
IN_SERVICE_RANGE = "127.0.62.77"  # no Service has it
OWN_SERVICE_IP, OTHER_SERVICE_IP = "127.0.62.50", "127.0.62.51"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
TENANT_REFUSAL_START = "no WebSocket: the address is one the operator does not probe"


class CountingListener(socketserver.ThreadingTCPServer):
    """Accepts on ADDRESS:free port, counts connections, answers 404."""

    daemon_threads = True

    def __init__(self, address: str) -> None:
        self.connections = 0
        self.address = address
        super().__init__((address, 0), _Answer)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self, host: str | None = None) -> str:
        return f"ws://{host or self.address}:{self.port}/ws"


class _Answer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, CountingListener)
        server.connections += 1
        request: socket.socket = self.request
        request.sendall(NOT_FOUND)


@pytest.fixture(scope="module")
def listeners() -> Iterator[dict[str, CountingListener]]:
    addresses = (
        API_SERVER,
        API_CLUSTER_IP,
        NODE_INTERNAL,
        NODE_EXTERNAL,
        IN_SERVICE_RANGE,
        OWN_SERVICE_IP,
        OTHER_SERVICE_IP,
    )
    running = {address: CountingListener(address) for address in addresses}
    yield running
    for listener in running.values():
        listener.shutdown()
        listener.server_close()


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[str]:
    """A Node whose addresses the operator must refuse (created before it starts, so that
    its first detection finds them)."""
    name = f"reach-{uuid.uuid4().hex[:6]}"
    manifest = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    addresses = [
        {"type": "InternalIP", "address": NODE_INTERNAL},
        {"type": "ExternalIP", "address": NODE_EXTERNAL},
        {"type": "Hostname", "address": name},
    ]
    patch = json.dumps({"status": {"addresses": addresses}})
    cluster.kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p", patch)
    yield name
    cluster.kubectl("delete", "node", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def reach_operator(
    cluster: Cluster, crds: None, node: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("reach-operator") / "wsaudit.log"
    with running_operator(cluster, log) as process:
        yield process


# kubectl in one namespace, as a tenant (Tenant.kubectl) or as the admin.
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def tenant(cluster: Cluster, crds: None) -> Iterator[Tenant]:
    created = create_tenant(cluster, "reach")
    yield created
    cluster.kubectl("delete", "namespace", created.namespace, "--wait=false", check=False)


def _apply(kubectl: Kubectl, name: str, url: str) -> None:
    manifest = endpoint(name, url, tls={"required": False}, timeout="2s")
    kubectl("apply", "-f", "-", stdin=manifest)


def _status(kubectl: Kubectl, name: str) -> dict[str, object]:
    done = kubectl("get", "wse", name, "-o", "json")
    status: dict[str, object] = json.loads(done.stdout).get("status") or {}
    return status


def _probed(kubectl: Kubectl, name: str) -> dict[str, object]:
    found: dict[str, object] = wait_for(
        lambda: (s := _status(kubectl, name)).get("cause") and s, timeout=60
    )
    return found


def _mapped(address: str) -> str:
    """The IPv4-mapped IPv6 literal of an IPv4 address, as a URL host."""
    return f"[{ipaddress.IPv6Address(f'::ffff:{address}').compressed}]"


# Endpoint name -> (the listener it aims at, the host in its URL).
REFUSED = {
    "api-server": (API_SERVER, API_SERVER),
    "api-server-cluster-ip": (API_CLUSTER_IP, API_CLUSTER_IP),
    "node-internal": (NODE_INTERNAL, NODE_INTERNAL),
    "node-external": (NODE_EXTERNAL, NODE_EXTERNAL),
    "node-ipv4-mapped": (NODE_INTERNAL, _mapped(NODE_INTERNAL)),
    "service-range": (IN_SERVICE_RANGE, IN_SERVICE_RANGE),
    "service-range-ipv4-mapped": (IN_SERVICE_RANGE, _mapped(IN_SERVICE_RANGE)),
}


def _refused_url(name: str, listeners: dict[str, CountingListener]) -> str:
    address, host = REFUSED[name]
    return listeners[address].url(host)


def test_the_cluster_itself_gets_no_connection(
    tenant: Tenant,
    reach_operator: OperatorProcess,
    listeners: dict[str, CountingListener],
) -> None:
    for name in REFUSED:
        _apply(tenant.kubectl, name, _refused_url(name, listeners))
    for name in REFUSED:
        status = _probed(tenant.kubectl, name)
        assert status["cause"] == "target-refused", (name, status)
    counts = {address: listeners[address].connections for address in listeners}
    assert counts == dict.fromkeys(counts, 0)
    # The operator's log names what was refused and why; the tenant's status does not.
    log = reach_operator.log.read_text()
    assert "Service default/kubernetes" in log and "ServiceCIDR kubernetes" in log
    assert "from Node reach-" in log


def test_the_status_shows_one_refusal_for_every_cluster_address(
    tenant: Tenant,
    reach_operator: OperatorProcess,
    listeners: dict[str, CountingListener],
) -> None:
    for name in ("api-server", "node-internal", "service-range"):
        _apply(tenant.kubectl, name, _refused_url(name, listeners))
    messages = set()
    for name in ("api-server", "node-internal", "service-range"):
        status = _probed(tenant.kubectl, name)
        text = json.dumps(status)
        for leak in (
            "an address of the cluster's API server",
            "a node's address",
            "in the cluster's Service range",
            "/32",
            "Node reach-",
        ):
            assert leak not in text, (name, leak)
        checks = status["checks"]
        assert isinstance(checks, list)
        handshake = next(c for c in checks if c["id"] == "handshake")
        assert handshake["message"].startswith(TENANT_REFUSAL_START)
        messages.add(handshake["message"])
    assert len(messages) == 1  # the API server, a node and a ClusterIP read the same


def test_a_namespace_reaches_its_own_services_but_not_anothers(
    cluster: Cluster,
    tenant: Tenant,
    reach_operator: OperatorProcess,
    listeners: dict[str, CountingListener],
) -> None:
    other = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", other)
    try:
        for name, address in (("own", OWN_SERVICE_IP), ("theirs", OTHER_SERVICE_IP)):
            service = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"clusterIP": address, "ports": [{"port": listeners[address].port}]},
            }
            target = tenant.namespace if name == "own" else other
            cluster.kubectl("-n", target, "apply", "-f", "-", stdin=json.dumps(service))
        _apply(tenant.kubectl, "own-service", listeners[OWN_SERVICE_IP].url())
        _apply(tenant.kubectl, "their-service", listeners[OTHER_SERVICE_IP].url())
        assert _probed(tenant.kubectl, "own-service")["cause"] == "route-not-found"
        assert _probed(tenant.kubectl, "their-service")["cause"] == "target-refused"
        assert listeners[OWN_SERVICE_IP].connections > 0
        assert listeners[OTHER_SERVICE_IP].connections == 0
        # Endpoints in default do not get the kubernetes Service's ClusterIP as their own.
        in_default = f"api-{uuid.uuid4().hex[:6]}"
        admin_in_default = partial(cluster.kubectl, "-n", "default")
        _apply(admin_in_default, in_default, listeners[API_CLUSTER_IP].url())
        assert _probed(admin_in_default, in_default)["cause"] == "target-refused"
        assert listeners[API_CLUSTER_IP].connections == 0
    finally:
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)
        cluster.kubectl("-n", "default", "delete", "wse", "--all", "--wait=false", check=False)


def test_the_local_control_plane_serves_at_its_own_address(cluster: Cluster) -> None:
    kubeconfig = Path(cluster.kubeconfig).read_text()
    assert f"server: https://{API_SERVER}:" in kubeconfig
    service = json.loads(cluster.kubectl("get", "service", "kubernetes", "-o", "json").stdout)
    assert service["spec"]["clusterIP"] == API_CLUSTER_IP

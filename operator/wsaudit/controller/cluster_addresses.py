"""Reads the cluster's own addresses for the probe guard: the API server's, the nodes' and
the Service ranges, at start and every minute; and the ClusterIPs of a namespace's own
Services, which its endpoints may reach. What they mean is decided in
api/cluster_addresses.py.

Detection failing is loud and safe: an error in the log, `wsaudit_cluster_addresses_detected`
at 0 for the kind, and the guard keeps the kind's last detected addresses; a kind that was
never detected refuses every probe (any target could be one of its addresses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from prometheus_client import CollectorRegistry, Gauge
from urllib3.exceptions import HTTPError

from ..api.cluster_addresses import (
    API_SERVER_SERVICE,
    ClusterAddresses,
    api_server_ranges,
    node_ranges,
    own_cluster_ips,
    service_ranges,
)
from ..probe.guard import (
    CLUSTER_KINDS,
    AddressGuard,
    ClusterKind,
    ClusterRange,
    IPAddress,
    ResolveError,
    resolve,
)

log = logging.getLogger(__name__)

REFRESH_SECONDS = 60.0
# A namespace's Services are listed again after this long (a new Service's ClusterIP is
# refused for at most this long; a deleted one stays reachable as long).
OWN_SERVICES_SECONDS = 30.0
REQUEST_SECONDS = 10.0  # each API read, and the lookup of the API server's host


class DetectionError(Exception):
    """Reading one kind of address failed; the message says how, without the API's answer."""


def _why(exc: BaseException) -> str:
    """What went wrong, without the API's response headers and body."""
    if isinstance(exc, ApiException):
        return f"the API server answered HTTP {exc.status} {exc.reason or ''}".strip()
    return str(exc) if isinstance(exc, ResolveError) else type(exc).__name__


class ClusterAddressWatch:
    """The latest cluster addresses, their periodic refresh, and each namespace's own
    ClusterIPs (cached for OWN_SERVICES_SECONDS)."""

    def __init__(
        self,
        api_client: client.ApiClient,
        lifted: frozenset[ClusterKind],
        registry: CollectorRegistry,
    ) -> None:
        self._api_client = api_client
        self._core = client.CoreV1Api(api_client)
        self.addresses = ClusterAddresses(kinds=frozenset(CLUSTER_KINDS) - lifted)
        self._detected = Gauge(
            "wsaudit_cluster_addresses_detected",
            "1 when the last detection of this kind of the cluster's own addresses (refused "
            "as probe targets) succeeded, 0 when it failed.",
            ["kind"],
            registry=registry,
        )
        self._own: dict[str, tuple[float, frozenset[IPAddress]]] = {}
        self._listing: dict[str, asyncio.Future[frozenset[IPAddress]]] = {}
        self._refreshing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Detects once (before any probe runs), then every REFRESH_SECONDS."""
        await self.refresh()
        self._refreshing = asyncio.create_task(self._keep_fresh())

    async def stop(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            await self.refresh()

    async def refresh(self) -> None:
        readers: dict[ClusterKind, Callable[[], Awaitable[tuple[ClusterRange, ...]]]] = {
            "api-server": self._api_server,
            "nodes": self._nodes,
            "services": self._services,
        }
        for kind in CLUSTER_KINDS:
            if kind not in self.addresses.kinds:
                continue
            try:
                ranges = await readers[kind]()
            except DetectionError as exc:
                self._detected.labels(kind).set(0)
                self.addresses = self.addresses.failed(kind, str(exc))
                kept = kind in self.addresses.ranges
                log.error(
                    "cannot detect the cluster's %s addresses: %s; %s (docs/operator.md, "
                    "Probe guard)",
                    kind,
                    exc,
                    "the last detected ones stay refused"
                    if kept
                    else "every probe is refused until they are known",
                )
                continue
            self._detected.labels(kind).set(1)
            if ranges != self.addresses.ranges.get(kind):
                log.info(
                    "refusing probes to the cluster's %s addresses: %s",
                    kind,
                    ", ".join(f"{item.network} ({item.source})" for item in ranges) or "none",
                )
            self.addresses = self.addresses.detected(kind, ranges)

    async def _read(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API read as a plain dict, in a thread, within REQUEST_SECONDS."""
        try:
            found = await asyncio.to_thread(call, *args, _request_timeout=REQUEST_SECONDS, **kwargs)
        except (ApiException, OSError, HTTPError) as exc:
            raise DetectionError(f"{what}: {_why(exc)}") from None
        return self._api_client.sanitize_for_serialization(found)  # type: ignore[no-untyped-call]

    async def _api_server(self) -> tuple[ClusterRange, ...]:
        namespace, name = API_SERVER_SERVICE
        service = await self._read(
            "get Service default/kubernetes", self._core.read_namespaced_service, name, namespace
        )
        slices = await self._read(
            "list EndpointSlices in default",
            client.DiscoveryV1Api(self._api_client).list_namespaced_endpoint_slice,
            namespace,
            label_selector=f"kubernetes.io/service-name={name}",
        )
        return api_server_ranges(service, slices.get("items") or [], await self._own_host())

    async def _own_host(self) -> list[IPAddress]:
        """The addresses of the API server host this operator talks to (its kubeconfig's,
        or the in-cluster KUBERNETES_SERVICE_HOST)."""
        url = urlsplit(str(self._api_client.configuration.host))
        host = url.hostname or ""
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                return await resolve(host, url.port or 443)
        except (ResolveError, TimeoutError) as exc:
            raise DetectionError(f"resolve the API server's host {host}: {_why(exc)}") from None

    async def _nodes(self) -> tuple[ClusterRange, ...]:
        # resourceVersion 0: served from the API server's watch cache, not from etcd.
        nodes = await self._read("list Nodes", self._core.list_node, resource_version="0")
        return node_ranges(nodes.get("items") or [])

    async def _services(self) -> tuple[ClusterRange, ...]:
        networking = client.NetworkingV1Api(self._api_client)
        try:
            cidrs = await asyncio.to_thread(
                networking.list_service_cidr, _request_timeout=REQUEST_SECONDS
            )
        except ApiException as exc:
            if exc.status == 404:
                if "services" not in self.addresses.ranges:
                    log.warning(
                        "this cluster has no ServiceCIDR API (Kubernetes before 1.33): give "
                        "its Service range with --deny-cidr so that probes cannot reach it"
                    )
                return ()
            raise DetectionError(f"list ServiceCIDRs: {_why(exc)}") from None
        except (OSError, HTTPError) as exc:
            raise DetectionError(f"list ServiceCIDRs: {_why(exc)}") from None
        found = self._api_client.sanitize_for_serialization(cidrs)  # type: ignore[no-untyped-call]
        return service_ranges(found.get("items") or [])

    async def guard_for(self, base: AddressGuard, namespace: str) -> AddressGuard:
        """`base` with the cluster's addresses refused, except the ClusterIPs of the
        namespace's own Services."""
        exempt: frozenset[IPAddress] = frozenset()
        if "services" in self.addresses.kinds:
            exempt = await self._own_cluster_ips(namespace)
        return self.addresses.guard(base, exempt)

    async def _own_cluster_ips(self, namespace: str) -> frozenset[IPAddress]:
        cached = self._own.get(namespace)
        if cached is not None and time.monotonic() - cached[0] < OWN_SERVICES_SECONDS:
            return cached[1]
        listing = self._listing.get(namespace)
        if listing is None:  # one list per namespace at a time, however many probes wait
            listing = asyncio.ensure_future(self._list_own(namespace))
            self._listing[namespace] = listing
            listing.add_done_callback(lambda _: self._listing.pop(namespace, None))
        return await asyncio.shield(listing)

    async def _list_own(self, namespace: str) -> frozenset[IPAddress]:
        try:
            services = await self._read(
                f"list Services in {namespace}", self._core.list_namespaced_service, namespace
            )
        except DetectionError as exc:
            # Without the list, no exception: the namespace's ClusterIPs stay refused.
            log.warning("%s; its endpoints cannot reach its own Services' ClusterIPs", exc)
            ips: frozenset[IPAddress] = frozenset()
        else:
            ips = own_cluster_ips(namespace, services.get("items") or [])
        self._own[namespace] = (time.monotonic(), ips)
        return ips


def _watch(memo: Any) -> ClusterAddressWatch:
    return cast(ClusterAddressWatch, memo.runtime.cluster_addresses)


@kopf.on.startup()
async def detect_cluster_addresses(*, memo: Any, **_: Any) -> None:
    await _watch(memo).start()


@kopf.on.cleanup()
async def stop_detecting(*, memo: Any, **_: Any) -> None:
    await _watch(memo).stop()

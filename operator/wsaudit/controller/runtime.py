"""What the handlers share at run time: settings, metrics, the probe guard (with the
cluster's own addresses) and limits, and which Ingresses WebSocketEndpoints refer to. One
instance, kept in kopf's memo."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..audit import AuditSettings, ObjectRef
from ..metrics import Metrics
from ..probe import AddressGuard
from ..settings import RunSettings
from ..slots import FairSlots
from .cluster_addresses import ClusterAddressWatch
from .ingress_watch import IngressWatch
from .kube import REQUEST_TIMEOUT, KubeApi


@dataclass
class Runtime:
    settings: RunSettings
    metrics: Metrics
    kube: KubeApi
    guard: AddressGuard  # the configured ranges; guard_for adds the cluster's addresses
    cluster_addresses: ClusterAddressWatch
    probe_slots: FairSlots
    audit_settings: AuditSettings
    # (namespace, ingress) -> names of the WebSocketEndpoints that refer to it
    references: defaultdict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    # Ingresses and IngressClasses as watched, and the Event last posted on each Ingress
    ingress_watch: IngressWatch = field(default_factory=IngressWatch)
    # (namespace, endpoint) -> wakes its probe loop early (spec or Ingress changed)
    wakeups: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)
    # The configured cluster-level objects, as last read, and when.
    _cluster_objects: tuple[float, dict[ObjectRef, Mapping[str, Any]]] | None = None

    async def cluster_objects(
        self, request_timeout: float = REQUEST_TIMEOUT
    ) -> dict[ObjectRef, Mapping[str, Any]]:
        """The controllers' ConfigMaps and LoadBalancer Services named in the settings,
        read at most once a minute (each Ingress audit uses them)."""
        now = time.monotonic()
        if self._cluster_objects is not None and now - self._cluster_objects[0] < 60:
            return self._cluster_objects[1]
        refs = [
            *(ObjectRef("ConfigMap", ns, name) for ns, name in self.settings.controller_configs),
            *(ObjectRef("Service", ns, name) for ns, name in self.settings.load_balancer_services),
        ]
        found: dict[ObjectRef, Mapping[str, Any]] = {}
        for ref in refs:
            obj = await self.kube.read_object(ref, request_timeout)
            if obj is not None:
                found[ref] = obj
        self._cluster_objects = (now, found)
        return found

    async def guard_for(self, namespace: str) -> AddressGuard:
        """The address guard for probes of endpoints in `namespace`: the configured one,
        refusing the cluster's own addresses too, except its own Services' ClusterIPs."""
        return await self.cluster_addresses.guard_for(self.guard, namespace)

    @classmethod
    def create(cls, settings: RunSettings) -> Runtime:
        metrics, kube = Metrics(), KubeApi()
        return cls(
            settings=settings,
            metrics=metrics,
            kube=kube,
            guard=AddressGuard(allow_private=settings.allow_private, denied=settings.deny_cidrs),
            cluster_addresses=ClusterAddressWatch(
                kube.api_client, settings.allow_cluster_addresses, metrics.registry
            ),
            probe_slots=FairSlots(
                settings.max_concurrent_probes, settings.max_concurrent_probes_per_namespace
            ),
            audit_settings=AuditSettings(min_timeout_seconds=settings.min_ingress_timeout),
        )

    def wakeup(self, namespace: str, endpoint: str) -> asyncio.Event:
        return self.wakeups.setdefault((namespace, endpoint), asyncio.Event())

    def wake(self, namespace: str, endpoint: str) -> None:
        event = self.wakeups.get((namespace, endpoint))
        if event is not None:
            event.set()

    def wake_referrers(self, namespace: str, ingress: str) -> None:
        for endpoint in self.references.get((namespace, ingress), set()):
            self.wake(namespace, endpoint)

    def forget_endpoint(self, namespace: str, endpoint: str) -> list[str]:
        """Forgets the endpoint; returns the Ingresses that lost their last referrer."""
        _new, orphaned = self.refer(namespace, endpoint, None)
        self.wakeups.pop((namespace, endpoint), None)
        self.metrics.forget_endpoint(namespace, endpoint)
        return orphaned

    def refer(self, namespace: str, endpoint: str, ingress: str | None) -> tuple[bool, list[str]]:
        """Records which Ingress an endpoint uses. Returns whether the reference is new, and
        the Ingresses no endpoint refers to any more (their findings may go)."""
        new = False
        orphaned: list[str] = []
        for (ns, name), endpoints in self.references.items():
            if ns == namespace and endpoint in endpoints and name != ingress:
                endpoints.discard(endpoint)
                if not endpoints:
                    orphaned.append(name)
        if ingress is not None:
            endpoints = self.references[(namespace, ingress)]
            new = endpoint not in endpoints
            endpoints.add(endpoint)
        return new, orphaned


def runtime_of(memo: Any) -> Runtime:
    runtime: Runtime = memo.runtime
    return runtime

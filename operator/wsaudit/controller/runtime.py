"""What the handlers share at run time: settings, metrics, the probe guard and limits, and
which Ingresses WebSocketEndpoints refer to. One instance, kept in kopf's memo."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..audit import AuditSettings, Finding
from ..metrics import Metrics
from ..probe import AddressGuard
from ..settings import RunSettings
from .kube import KubeApi


@dataclass
class Runtime:
    settings: RunSettings
    metrics: Metrics
    kube: KubeApi
    guard: AddressGuard
    probe_slots: asyncio.Semaphore
    audit_settings: AuditSettings
    # (namespace, ingress) -> names of the WebSocketEndpoints that refer to it
    references: defaultdict[tuple[str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    # (namespace, ingress) -> the findings last published (to post Events only on change)
    published: dict[tuple[str, str], tuple[Finding, ...]] = field(default_factory=dict)
    # (namespace, endpoint) -> wakes its probe loop early (spec or Ingress changed)
    wakeups: dict[tuple[str, str], asyncio.Event] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: RunSettings) -> Runtime:
        return cls(
            settings=settings,
            metrics=Metrics(),
            kube=KubeApi(),
            guard=AddressGuard(allow_private=settings.allow_private, denied=settings.deny_cidrs),
            probe_slots=asyncio.Semaphore(settings.max_concurrent_probes),
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

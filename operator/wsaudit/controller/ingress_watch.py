"""What the operator knows of Ingresses and IngressClasses: kept by kopf's on.event handlers
(controller/ingresses.py), not by `@kopf.index`.

kopf holds every handler of every resource until each object of each indexed kind has been
indexed, with a toggle per object whose every change wakes every waiting worker: with 10,000
Ingresses a cold start took 17 minutes. A dict filled by the event handlers costs O(1) per
event, but without the barrier kopf says nothing about when its initial listing is over: a
probe loop could find an endpoint's Ingress "not found" because it has not arrived yet. So
the operator lists Ingresses and IngressClasses itself in a startup handler, which kopf runs
before any watch starts (`ListedStore.fill`): the stores are complete before the first
handler runs, and kopf's deliveries then replace their entries. An object listed but deleted
before kopf's own listing is never delivered, nor its deletion: `settle` lists the keys
again while some stay unconfirmed, and forgets those that are gone.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
IngressKey = tuple[str, str]  # (namespace, name)

# kubectl's copy of the whole object: as large as the rest, and no rule reads it.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# How long a store waits for missing keys before listing again, at first and at most.
FIRST_PATIENCE = 10.0
MAX_PATIENCE = 300.0
log = logging.getLogger(__name__)


def slim(body: Mapping[str, Any], *, owned: bool = False) -> dict[str, Any]:
    """What the audit, endpoint matching and Events need of an Ingress or IngressClass: its
    identity, annotations and spec (rules, TLS, class, backends); not managedFields, status
    or kubectl's last-applied copy, which would triple the memory of 10,000 Ingresses. The
    spec is copied unless the caller hands the body over (`owned`: a listing's items)."""
    metadata, spec = body.get("metadata") or {}, body.get("spec") or {}
    kept: dict[str, Any] = {k: metadata[k] for k in ("name", "namespace", "uid") if k in metadata}
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k != LAST_APPLIED
    }
    if annotations:
        kept["annotations"] = annotations
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": kept,
        "spec": dict(spec) if owned else copy.deepcopy(dict(spec)),
    }


class ListedStore(Generic[Key]):
    """Objects of one kind by key (slimmed): filled from the operator's own listing at start,
    then kept by the watch's deliveries. A listed object kopf has not delivered yet is
    unconfirmed: it may have been deleted before kopf's listing, which never tells."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self._unconfirmed: set[Key] = set()
        self._confirmed = asyncio.Event()
        self._confirmed.set()

    @property
    def unconfirmed(self) -> frozenset[Key]:
        return frozenset(self._unconfirmed)

    def fill(self, listed: Mapping[Key, Mapping[str, Any]]) -> None:
        """What the API server listed (handed over); what the watch delivered stays."""
        for key, body in listed.items():
            if key not in self.objects:
                self.objects[key] = slim(body, owned=True)
                self._unconfirmed.add(key)
        self._check()

    def put(self, key: Key, body: Mapping[str, Any]) -> None:
        self.objects[key] = slim(body)
        self._confirm(key)

    def drop(self, key: Key) -> None:
        self.objects.pop(key, None)
        self._confirm(key)

    def narrow(self, still_listed: Iterable[Key]) -> None:
        """A later listing: an unconfirmed object it no longer has is gone (deleted before
        kopf's own listing, so no DELETED will come)."""
        still = set(still_listed)
        for key in self._unconfirmed - still:
            self.objects.pop(key, None)
        self._unconfirmed &= still
        self._check()

    async def wait_confirmed(self) -> None:
        await self._confirmed.wait()

    def _confirm(self, key: Key) -> None:
        if self._unconfirmed:
            self._unconfirmed.discard(key)
            self._check()

    def _check(self) -> None:
        if self._unconfirmed:
            self._confirmed.clear()
        else:
            self._confirmed.set()


async def settle(
    store: ListedStore[Key],
    relist: Callable[[], Awaitable[Iterable[Key]]],
    patience: float = FIRST_PATIENCE,
) -> None:
    """Until kopf has delivered every listed object: while some stay unconfirmed, lists the
    keys again and forgets those that are gone; patience grows, since a paused standby
    replica's watch delivers nothing."""
    while store.unconfirmed:
        try:
            await asyncio.wait_for(store.wait_confirmed(), patience)
        except TimeoutError:
            try:
                store.narrow(await relist())
            except Exception as exc:  # whatever failed (API, network): list again later
                log.warning("listing again to find deleted objects failed: %r", exc)
            patience = min(patience * 2, MAX_PATIENCE)


@dataclass(frozen=True)
class PostedEvent:
    """The Event last posted on an Ingress: a new one only when its content differs."""

    uid: str
    type: str
    reason: str
    message: str


def latest_posted(
    events: Iterable[Mapping[str, Any]], reasons: Iterable[str]
) -> dict[IngressKey, PostedEvent]:
    """The newest Event of each Ingress among `events` with one of our `reasons`, so that a
    restarted operator posts nothing for findings it posted before (while the API server
    keeps Events: kube-apiserver's --event-ttl, 1 h by default)."""
    wanted = set(reasons)
    newest: dict[IngressKey, tuple[datetime.datetime, PostedEvent]] = {}
    for event in events:
        involved = event.get("involvedObject") or {}
        if event.get("reason") not in wanted or involved.get("kind") != "Ingress":
            continue
        key = (str(involved.get("namespace") or ""), str(involved.get("name") or ""))
        when = _event_time(event)
        if key in newest and newest[key][0] >= when:
            continue
        posted = PostedEvent(
            uid=str(involved.get("uid") or ""),
            type=str(event.get("type") or ""),
            reason=str(event.get("reason")),
            message=str(event.get("message") or ""),
        )
        newest[key] = (when, posted)
    return {key: posted for key, (_when, posted) in newest.items()}


def _event_time(event: Mapping[str, Any]) -> datetime.datetime:
    """eventTime has microseconds (two Events in one second are ordered); older clients set
    only lastTimestamp or firstTimestamp."""
    metadata = event.get("metadata") or {}
    for raw in (
        event.get("eventTime"),
        event.get("lastTimestamp"),
        event.get("firstTimestamp"),
        metadata.get("creationTimestamp"),
    ):
        if raw:
            try:
                return datetime.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            except ValueError:
                continue
    return datetime.datetime.min.replace(tzinfo=datetime.UTC)


@dataclass
class IngressWatch:
    """The Ingress side of the operator's memory: both stores, and the Events posted."""

    ingresses: ListedStore[IngressKey] = field(default_factory=ListedStore)
    classes: ListedStore[str] = field(default_factory=ListedStore)
    posted: dict[IngressKey, PostedEvent] = field(default_factory=dict)
    # The `settle` tasks started with the listings (held here: asyncio keeps weak references).
    settling: set[asyncio.Task[None]] = field(default_factory=set)

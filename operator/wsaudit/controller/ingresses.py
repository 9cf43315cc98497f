"""Ingresses are the users' (and their GitOps tools'): watched with event handlers only, which
store nothing on the object, into the Runtime's IngressWatch (controller/ingress_watch.py:
why not a kopf index). Findings go to metrics and Events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..audit import (
    AuditSettings,
    Finding,
    IngressAudit,
    ManifestError,
    ObjectRef,
    Related,
    Severity,
    audit_ingress,
    detect,
    ingress_view,
)
from ..audit.model import WEBSOCKET_ANNOTATION
from .ingress_watch import IngressKey, PostedEvent, latest_posted, settle
from .kube import REQUEST_TIMEOUT
from .runtime import Runtime, runtime_of

INGRESS = ("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASS = ("networking.k8s.io", "v1", "ingressclasses")
MISCONFIGURED, READY = "WebSocketMisconfigured", "WebSocketReady"
# Items per page of the start-up listings (the API server's own default chunking is 500).
LIST_PAGE = 500
log = logging.getLogger(__name__)

Index = Mapping[IngressKey, Mapping[str, Any]]


def annotated(body: Mapping[str, Any]) -> bool:
    annotations = body.get("metadata", {}).get("annotations") or {}
    return str(annotations.get(WEBSOCKET_ANNOTATION, "")).lower() == "true"


def serves_websockets(runtime: Runtime, namespace: str, name: str, body: Mapping[str, Any]) -> bool:
    return annotated(body) or bool(runtime.references.get((namespace, name)))


# Fetching can reveal more to fetch (a Service names a BackendConfig): at most this many rounds.
_FETCH_ROUNDS = 2

ObjectReader = Callable[[ObjectRef], Awaitable[Mapping[str, Any] | None]]


async def audit(runtime: Runtime, body: Mapping[str, Any]) -> IngressAudit | None:
    """The audit from the watch's state (the IngressClasses), with the Services and
    BackendConfigs its controller's rules read."""
    classes = runtime.ingress_watch.classes.objects
    known = Related(ingress_classes=classes).with_objects(await runtime.cluster_objects())
    return await audit_with(body, known, runtime.kube.read_object, runtime.audit_settings)


async def audit_with(
    body: Mapping[str, Any], known: Related, read: ObjectReader, settings: AuditSettings
) -> IngressAudit | None:
    """The audit with what is `known` so far; `read` fetches what the controller's rules
    need beyond it (None: absent, or not read)."""
    try:
        ingress = ingress_view(body)
    except ManifestError:
        return None  # the API server validated it; a partial object in a watch is skipped
    controller = detect(ingress, known).controller
    for _ in range(_FETCH_ROUNDS):
        wanted = controller.needs(ingress, known) if controller and controller.needs else []
        if not wanted:
            break
        fetched = {ref: await read(ref) for ref in wanted}
        known = known.with_objects({ref: obj for ref, obj in fetched.items() if obj is not None})
    return audit_ingress(ingress, known, settings)


def publish(runtime: Runtime, body: Mapping[str, Any], result: IngressAudit) -> None:
    """Metrics always; an Event on the Ingress only when it would say something else than
    the Event last posted on it (by this process, or found at start: list_ingresses)."""
    key = (result.ingress.namespace, result.ingress.name)
    runtime.metrics.record_findings(*key, result.findings)
    uid = str(body.get("metadata", {}).get("uid") or "")
    event = _event(uid, result.findings)
    if runtime.ingress_watch.posted.get(key) == event:
        return
    runtime.ingress_watch.posted[key] = event
    kopf.event(cast(kopf.Body, body), type=event.type, reason=event.reason, message=event.message)


def _event(uid: str, findings: tuple[Finding, ...]) -> PostedEvent:
    problems = [f for f in findings if f.severity >= Severity.WARNING]
    if problems:
        return PostedEvent(uid, "Warning", MISCONFIGURED, _summary(problems))
    return PostedEvent(uid, "Normal", READY, "wsaudit found no WebSocket problem in this Ingress")


def _summary(findings: list[Finding]) -> str:
    first = findings[0]
    more = (
        f" (+{len(findings) - 1} more: {', '.join(f.rule for f in findings[1:])})"
        if len(findings) > 1
        else ""
    )
    return f"{first.rule}: {first.message}; fix: {first.fix}{more}"[:1000]


def forget(runtime: Runtime, namespace: str, name: str) -> None:
    """Its findings go; the Event last posted stays on the Ingress, and so does its memory
    (at start, an unannotated Ingress is forgotten until an endpoint refers to it again)."""
    runtime.metrics.forget_ingress(namespace, name)


@kopf.on.event(*INGRESS)
async def ingress_changed(
    *, event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    runtime = runtime_of(memo)
    namespace = namespace or "default"
    ingresses = runtime.ingress_watch.ingresses
    if event["type"] == "DELETED":
        ingresses.drop((namespace, name))
        runtime.ingress_watch.posted.pop((namespace, name), None)
        forget(runtime, namespace, name)
    else:
        ingresses.put((namespace, name), body)
        slimmed = ingresses.objects[(namespace, name)]
        if not serves_websockets(runtime, namespace, name, slimmed):
            forget(runtime, namespace, name)
        elif (result := await audit(runtime, slimmed)) is not None:
            publish(runtime, slimmed, result)
    runtime.wake_referrers(namespace, name)


@kopf.on.event(*INGRESS_CLASS)
async def ingress_class_changed(
    *, event: kopf.RawEvent, body: kopf.Body, name: str, memo: Any, **_: Any
) -> None:
    """Async: kopf runs a synchronous handler in a thread, and the store belongs to the loop."""
    classes = runtime_of(memo).ingress_watch.classes
    if event["type"] == "DELETED":
        classes.drop(name)
    else:
        classes.put(name, body)


@kopf.on.startup()
async def list_ingresses(*, memo: Any, **_: Any) -> None:
    """Fills the IngressWatch before kopf starts its watches (startup handlers run first), so
    that no probe finds an endpoint's Ingress absent because it has not arrived yet; and
    reads the Events posted on Ingresses, so that a restart posts none again."""
    logging.getLogger("kopf.objects").addFilter(_without_ingress_successes)
    runtime = runtime_of(memo)
    watch = runtime.ingress_watch
    lists = _Listings(runtime.kube.api_client, runtime.settings.namespaces)
    try:
        watch.classes.fill({_name(c): c for c in await lists.ingress_classes()})
        watch.ingresses.fill({_key(i): i for i in await lists.ingresses()})
    except (ApiException, OSError, HTTPError) as exc:
        log.warning(
            "Ingresses not listed at start (%s): until the watch delivers them, an endpoint "
            "may find its Ingress absent",
            exc,
        )
    try:
        watch.posted.update(latest_posted(await lists.ingress_events(), (MISCONFIGURED, READY)))
    except (ApiException, OSError, HTTPError) as exc:
        log.warning(
            "Events on Ingresses not listed (%s; the operator needs list on events): each "
            "audited Ingress gets its Event again",
            exc,
        )

    async def ingress_keys() -> set[IngressKey]:
        return {_key(i) for i in await lists.ingresses()}

    async def class_names() -> set[str]:
        return {_name(c) for c in await lists.ingress_classes()}

    watch.settling.add(asyncio.create_task(settle(watch.ingresses, ingress_keys)))
    watch.settling.add(asyncio.create_task(settle(watch.classes, class_names)))


# kopf logs every on.event handler's success at INFO: for Ingresses, one line per Ingress at
# start (a tenth of the operator's CPU with 10,000) and per edit, saying nothing; failures
# are still logged. (kopf names a handler by its function.)
_SUCCESSES = frozenset(
    f"Handler {handler!r} succeeded." for handler in ("ingress_changed", "ingress_class_changed")
)


def _without_ingress_successes(record: logging.LogRecord) -> bool:
    return record.msg not in _SUCCESSES


def _key(ingress: Mapping[str, Any]) -> IngressKey:
    metadata = ingress.get("metadata") or {}
    return str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


class _Listings:
    """Paged lists with the synchronous client in a thread, parsed as plain JSON (the
    client's models take seconds for 10,000 Ingresses), in the watched namespaces."""

    def __init__(self, api_client: client.ApiClient, namespaces: tuple[str, ...]) -> None:
        self._networking = client.NetworkingV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._namespaces = namespaces

    async def ingress_classes(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(_pages, self._networking.list_ingress_class)

    async def ingresses(self) -> list[dict[str, Any]]:
        return await self._in_namespaces(
            self._networking.list_ingress_for_all_namespaces,
            self._networking.list_namespaced_ingress,
        )

    async def ingress_events(self) -> list[dict[str, Any]]:
        return await self._in_namespaces(
            self._core.list_event_for_all_namespaces,
            self._core.list_namespaced_event,
            field_selector="involvedObject.kind=Ingress",
        )

    async def _in_namespaces(
        self,
        everywhere: Callable[..., Any],
        in_namespace: Callable[..., Any],
        **selectors: str,
    ) -> list[dict[str, Any]]:
        if not self._namespaces:
            return await asyncio.to_thread(_pages, everywhere, **selectors)
        found: list[dict[str, Any]] = []
        for namespace in self._namespaces:
            found += await asyncio.to_thread(_pages, in_namespace, namespace, **selectors)
        return found


def _pages(call: Callable[..., Any], *args: str, **selectors: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        response = call(
            *args,
            limit=LIST_PAGE,
            _continue=token,
            _preload_content=False,
            _request_timeout=REQUEST_TIMEOUT,
            **selectors,
        )
        page = json.loads(response.data)
        # Items of a list carry no kind (Events name it in involvedObject).
        kind = str(page.get("kind") or "").removesuffix("List")
        for item in page.get("items") or []:
            items.append({"apiVersion": page.get("apiVersion"), "kind": kind, **item})
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return items

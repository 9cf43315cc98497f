"""Ingresses are the users' (and their GitOps tools'): watched with an index and event
handlers only, which store nothing on the object. Findings go to metrics and Events."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import kopf

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
from .runtime import Runtime, runtime_of

INGRESS = ("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASS = ("networking.k8s.io", "v1", "ingressclasses")

Index = Mapping[Any, Any]


@kopf.index(*INGRESS)
def ingress_index(*, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    """Every Ingress by (namespace, name), so endpoints can match and audit them."""
    return {(namespace, name): copy.deepcopy(dict(body))}


@kopf.index(*INGRESS_CLASS)
def ingress_class_index(*, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
    return {name: copy.deepcopy(dict(body))}


def latest(index: Index, key: Any) -> dict[str, Any] | None:
    """kopf indices hold a collection per key; an Ingress key holds one object."""
    store = index.get(key)
    return next(iter(store), None) if store else None


def related(ingress_classes: Index) -> Related:
    classes = {name: obj for name in ingress_classes if (obj := latest(ingress_classes, name))}
    return Related(ingress_classes=classes)


def annotated(body: Mapping[str, Any]) -> bool:
    annotations = body.get("metadata", {}).get("annotations") or {}
    return str(annotations.get(WEBSOCKET_ANNOTATION, "")).lower() == "true"


def serves_websockets(runtime: Runtime, namespace: str, name: str, body: Mapping[str, Any]) -> bool:
    return annotated(body) or bool(runtime.references.get((namespace, name)))


# Fetching can reveal more to fetch (a Service names a BackendConfig): at most this many rounds.
_FETCH_ROUNDS = 2

ObjectReader = Callable[[ObjectRef], Awaitable[Mapping[str, Any] | None]]


async def audit(
    runtime: Runtime, body: Mapping[str, Any], ingress_classes: Index
) -> IngressAudit | None:
    """The audit from the watch's state (the IngressClass index), with the Services and
    BackendConfigs its controller's rules read."""
    known = related(ingress_classes).with_objects(await runtime.cluster_objects())
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
    """Metrics always; an Event on the Ingress only when its findings changed."""
    key = (result.ingress.namespace, result.ingress.name)
    runtime.metrics.record_findings(*key, result.findings)
    if runtime.published.get(key) == result.findings:
        return
    runtime.published[key] = result.findings
    problems = [f for f in result.findings if f.severity >= Severity.WARNING]
    if problems:
        kopf.event(
            cast(kopf.Body, body),
            type="Warning",
            reason="WebSocketMisconfigured",
            message=_summary(problems),
        )
    else:
        kopf.event(
            cast(kopf.Body, body),
            type="Normal",
            reason="WebSocketReady",
            message="wsaudit found no WebSocket problem in this Ingress",
        )


def _summary(findings: list[Finding]) -> str:
    first = findings[0]
    more = (
        f" (+{len(findings) - 1} more: {', '.join(f.rule for f in findings[1:])})"
        if len(findings) > 1
        else ""
    )
    return f"{first.rule}: {first.message}; fix: {first.fix}{more}"[:1000]


def forget(runtime: Runtime, namespace: str, name: str) -> None:
    runtime.metrics.forget_ingress(namespace, name)
    runtime.published.pop((namespace, name), None)


@kopf.on.event(*INGRESS)
async def ingress_changed(
    *,
    event: kopf.RawEvent,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    **indices: Any,
) -> None:
    runtime = runtime_of(memo)
    namespace = namespace or "default"
    if event["type"] == "DELETED" or not serves_websockets(runtime, namespace, name, body):
        forget(runtime, namespace, name)
    else:
        result = await audit(runtime, body, indices["ingress_class_index"])
        if result is not None:
            publish(runtime, body, result)
    runtime.wake_referrers(namespace, name)

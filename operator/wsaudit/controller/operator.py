"""`wsaudit run`: kopf with settings from flags and environment, in one startup hook."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp.web
import kopf
from kopf._core.intents.handlers import DaemonHandler
from prometheus_client import start_http_server

from .. import eventloop
from ..api.models import GROUP, PLURAL, VERSION
from ..schedule import Schedule
from ..settings import RunSettings
from . import admission, cluster_addresses, endpoints, ingresses
from .runtime import Runtime, runtime_of

# Importing the handler modules registers their handlers in kopf's default registry.
HANDLER_MODULES = (endpoints, ingresses, cluster_addresses)

# kopf's finalizer name (settings.persistence.finalizer), instead of its default
# kopf.zalando.org/KopfFinalizerMarker. No handler requires it (see daemons_without_finalizer):
# kopf removes it from any object that carries it, and never adds it.
FINALIZER = "wsaudit.io/finalizer"
# What wsaudit <= 0.1 put on every WebSocketEndpoint; removed on sight (release_endpoint).
LEGACY_FINALIZERS = ("kopf.zalando.org/KopfFinalizerMarker",)

# The task of each running endpoint daemon, by the endpoint's uid.
_daemon_tasks: dict[str, asyncio.Task[Any]] = {}


def daemons_without_finalizer(registry: kopf.OperatorRegistry) -> int:
    """Run the daemons without a finalizer; stop each when its endpoint's DELETED arrives.

    A finalizer outlives the operator: after `helm uninstall` (CRDs kept) or with the operator
    scaled to 0, deleting an endpoint, or its namespace, hangs until someone edits the
    finalizer away. The probe loop has nothing to clean up in the cluster, so it needs none.

    kopf 1.45 gives every daemon one anyway: `@kopf.daemon` hard-codes
    `requires_finalizer=True` (kopf/on.py:715, no parameter), and processing.py:284-300 adds
    the finalizer while any spawning handler requires it (registries.py:160-172). kopf stops
    daemons only while deletion is ongoing, i.e. metadata.deletionTimestamp is set
    (processing.py:407, finalizers.is_deletion_ongoing), and a custom resource gets a
    deletionTimestamp only while a finalizer holds it; without one, the DELETED event just
    forgets the object (processing.py:61) and its daemon would keep probing until the
    operator exits. So the daemon handlers are registered again with requires_finalizer=False
    (then processing.py:303-305 also removes a finalizer of ours left by an earlier
    version), and release_endpoint cancels the daemon when the DELETED event arrives (on.event
    handlers run before the spawning ones in the same cycle: processing.py:255-266); the
    daemon's `finally` forgets the endpoint's metric series, as on kopf's own stop.
    """
    spawning = registry._spawning
    replaced = 0
    for index, handler in enumerate(spawning._handlers):
        if isinstance(handler, DaemonHandler) and handler.requires_finalizer:
            spawning._handlers[index] = dataclasses.replace(
                handler, requires_finalizer=False, fn=_stopped_when_deleted(handler.fn)
            )
            replaced += 1
    return replaced


def _stopped_when_deleted(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def daemon(**kwargs: Any) -> Any:
        uid = str(kwargs.get("uid") or "")
        task = asyncio.ensure_future(fn(**kwargs))
        _daemon_tasks[uid] = task
        try:
            return await task  # kopf cancelling this cancels the task too
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # kopf's own cancellation, not the endpoint's deletion
            return None
        finally:
            if _daemon_tasks.get(uid) is task:
                del _daemon_tasks[uid]

    return daemon


def _without(names: tuple[str, ...], body: dict[str, Any]) -> None:
    metadata = body.get("metadata") or {}
    kept = [f for f in metadata.get("finalizers") or [] if f not in names]
    if kept:
        metadata["finalizers"] = kept
    else:
        metadata.pop("finalizers", None)


@kopf.on.event(GROUP, VERSION, PLURAL)
def release_endpoint(
    *, event: kopf.RawEvent, body: kopf.Body, uid: str | None, patch: kopf.Patch, **_: Any
) -> None:
    """Stop the daemon of a deleted endpoint; drop the finalizer earlier versions added."""
    if event["type"] == "DELETED":
        task = _daemon_tasks.get(uid or "")
        if task is not None:
            task.cancel()
        return
    if any(f in LEGACY_FINALIZERS for f in body.metadata.get("finalizers") or []):
        patch.fns.append(functools.partial(_without, LEGACY_FINALIZERS))


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    runtime = runtime_of(memo)
    run = runtime.settings
    # Progress and diff-base go to annotations on wsaudit's own resources only: Ingresses are
    # handled by event handlers, which store nothing on objects.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="wsaudit.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="wsaudit.io", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # Events: transitions and problems, not chatter
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.watching.reconnect_backoff = 2.0
    settings.networking.request_timeout = 30
    settings.peering.standalone = run.peering is None
    if run.peering is not None:
        # Replicas of one Deployment share a peering object; kopf pauses every operator
        # that sees a peer of higher priority, so a random priority per process elects one
        # active replica, and the next one takes over when its heartbeats stop.
        settings.peering.name = run.peering
        settings.peering.mandatory = True
        settings.peering.clusterwide = run.clusterwide
        settings.peering.priority = random.randint(1, 2**31 - 1)  # noqa: S311
        await runtime.kube.ensure_peering(run.peering, run.namespaces)
    if run.webhook != "off":
        settings.admission.server = kopf.WebhookServer(
            addr=listen_address(run.bind_address),
            port=run.webhook_port,
            certfile=str(run.webhook_cert),
            pkeyfile=str(run.webhook_key),
        )
        settings.admission.managed = None  # the Helm chart owns the configuration


def listen_address(bind_address: str) -> str | None:
    """Where an asyncio server listens for `--bind-address`: None (every address of both
    families) for `::`. asyncio makes a socket on `::` IPv6-only, unlike Linux's default
    (net.ipv6.bindv6only=0) that the metrics server gets, and an operator bound to `::` in a
    dual-stack cluster must still answer the kubelet and Prometheus on its IPv4 address."""
    try:
        unspecified = ipaddress.IPv6Address(bind_address).is_unspecified
    except ValueError:
        unspecified = False
    return None if unspecified else bind_address


async def _healthy(_request: aiohttp.web.Request) -> aiohttp.web.Response:
    return aiohttp.web.json_response({})


def _readiness(ready: asyncio.Event) -> Callable[[aiohttp.web.Request], Awaitable[Any]]:
    """/readyz: 503 until kopf's startup handlers are done (the cluster addresses detected,
    the Ingresses listed) and it starts its watches and the webhook server, so that the
    webhook Service routes no admission request to a replica that cannot answer yet."""

    async def readiness(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        if ready.is_set():
            return aiohttp.web.json_response({})
        return aiohttp.web.json_response({"starting": True}, status=503)

    return readiness


async def _operate(
    settings: RunSettings, registry: kopf.OperatorRegistry, runtime: Runtime
) -> None:
    """kopf, with /healthz (liveness) and /readyz served on the same event loop (they stop
    answering when the loop stops). wsaudit serves them instead of kopf's liveness_endpoint,
    which takes one URL, so one address family for `::`."""
    ready = asyncio.Event()
    app = aiohttp.web.Application()
    app.router.add_get("/healthz", _healthy)
    app.router.add_get("/readyz", _readiness(ready))
    health = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
    await health.setup()
    try:
        await aiohttp.web.TCPSite(
            health, listen_address(settings.bind_address), settings.health_port
        ).start()
        await kopf.operator(
            registry=registry,
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            standalone=settings.peering is None,
            peering_name=settings.peering,
            memo=kopf.Memo(runtime=runtime, schedule=Schedule()),
            ready_flag=ready,
        )
    finally:
        await health.cleanup()


def run(settings: RunSettings) -> None:
    kopf.configure(
        verbose=False,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    registry = kopf.get_default_registry()
    if not daemons_without_finalizer(registry):
        raise RuntimeError("kopf registers daemons differently: review daemons_without_finalizer")
    if settings.webhook != "off":
        admission.register(registry)
    runtime = Runtime.create(settings)
    start_http_server(
        settings.metrics_port, addr=settings.bind_address, registry=runtime.metrics.registry
    )
    eventloop.run(_operate(settings, registry, runtime))  # uvloop where installed

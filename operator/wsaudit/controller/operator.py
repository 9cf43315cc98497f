"""`wsaudit run`: kopf with settings from flags and environment, in one startup hook."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import kopf
from prometheus_client import start_http_server

from ..settings import RunSettings
from . import admission, endpoints, ingresses
from .runtime import Runtime, runtime_of

# Importing the handler modules registers their handlers in kopf's default registry.
HANDLER_MODULES = (endpoints, ingresses)


@kopf.on.startup()
async def configure(*, settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    runtime = runtime_of(memo)
    run = runtime.settings
    # Progress and diff-base go to annotations on wsaudit's own resources only: Ingresses are
    # handled by the index and event handlers, which store nothing on objects.
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
            addr=run.bind_address,
            port=run.webhook_port,
            certfile=str(run.webhook_cert),
            pkeyfile=str(run.webhook_key),
        )
        settings.admission.managed = None  # the Helm chart owns the configuration


def run(settings: RunSettings) -> None:
    kopf.configure(
        verbose=False,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    registry = kopf.get_default_registry()
    if settings.webhook != "off":
        admission.register(registry)
    runtime = Runtime.create(settings)
    start_http_server(
        settings.metrics_port, addr=settings.bind_address, registry=runtime.metrics.registry
    )
    asyncio.run(
        kopf.operator(
            registry=registry,
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            standalone=settings.peering is None,
            peering_name=settings.peering,
            liveness_endpoint=f"http://{settings.bind_address}:{settings.health_port}/healthz",
            memo=kopf.Memo(runtime=runtime),
        )
    )

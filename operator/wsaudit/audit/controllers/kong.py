"""Kong Ingress Controller. Proxy timeouts are annotations on the backend **Service**
(konghq.com/read-timeout, konghq.com/write-timeout, in milliseconds, default 60000), not on
the Ingress.

Docs: https://docs.konghq.com/kubernetes-ingress-controller/latest/reference/annotations/
"""

from __future__ import annotations

from collections.abc import Iterator

from ..controller import (
    Context,
    Controller,
    Timeout,
    check_timeout,
    missing_objects,
    redirect_required_rule,
    services_of_websocket_paths,
    unseen_services,
)
from ..durations import Format
from ..model import Finding, Severity

PREFIX = "konghq.com/"
TIMEOUT_KEYS = (f"{PREFIX}read-timeout", f"{PREFIX}write-timeout")


def _timeout(key: str, service: str) -> Timeout:
    return Timeout(
        key.removeprefix(PREFIX),
        key,
        Format.MILLISECONDS,
        60,
        where=f"on Service {service}",
        fix_format=lambda seconds: f"{int(seconds * 1000)}",
    )


def service_timeouts(ctx: Context) -> Iterator[Finding]:
    unseen: list[str] = []
    for service in services_of_websocket_paths(ctx.ingress):
        annotations = ctx.related.service_annotations(ctx.ingress.namespace, service)
        if annotations is None:
            unseen.append(service)
            continue
        for key in TIMEOUT_KEYS:
            finding = check_timeout(ctx, _timeout(key, service), annotations)
            if finding is not None:
                yield finding
    if unseen:
        yield ctx.finding(
            "service-timeouts-unknown",
            Severity.INFO,
            missing_objects("Service", unseen, "Kong reads its timeouts from the Service"),
            f"check {', '.join(TIMEOUT_KEYS)} (milliseconds, default 60000) on those Services",
        )


def timeouts_on_ingress(ctx: Context) -> Iterator[Finding]:
    for key in TIMEOUT_KEYS:
        if key in ctx.annotations:
            yield ctx.finding(
                "timeout-on-ingress",
                Severity.WARNING,
                f"{key} on the Ingress does nothing: Kong reads it from the backend Service",
                f"move {key} to the Service annotations",
            )


CONTROLLER = Controller(
    id="kong",
    title="Kong Ingress Controller",
    docs="https://docs.konghq.com/kubernetes-ingress-controller/latest/reference/annotations/",
    ingress_class_controllers=("ingress-controllers.konghq.com/kong",),
    needs=unseen_services,
    class_names=("kong",),
    annotation_prefixes=(PREFIX,),
    rules=(
        service_timeouts,
        timeouts_on_ingress,
        redirect_required_rule(
            f"{PREFIX}https-redirect-status-code",
            "301",
            f'with {PREFIX}protocols: "https" on the Ingress',
        ),
    ),
)

"""Traefik. Nothing is needed on the Ingress for WebSockets; the timeouts that cut them are
the entrypoint's transport.respondingTimeouts (readTimeout, idleTimeout) in the static
configuration.

Docs: https://doc.traefik.io/traefik/routing/entrypoints/#respondingtimeouts
"""

from __future__ import annotations

from collections.abc import Iterator

from ..controller import Context, Controller
from ..model import Finding, Severity


def entrypoint_timeouts(ctx: Context) -> Iterator[Finding]:
    yield ctx.finding(
        "entrypoint-timeouts",
        Severity.INFO,
        "Traefik needs no Ingress annotation for WebSockets; its entrypoint timeouts "
        "(transport.respondingTimeouts.readTimeout and idleTimeout) live in the static "
        "configuration and apply to every route",
        "check entryPoints.<name>.transport.respondingTimeouts in Traefik's static "
        "configuration (0 disables readTimeout)",
    )


CONTROLLER = Controller(
    id="traefik",
    title="Traefik",
    docs="https://doc.traefik.io/traefik/routing/entrypoints/#respondingtimeouts",
    ingress_class_controllers=("traefik.io/ingress-controller",),
    class_names=("traefik",),
    annotation_prefixes=("traefik.ingress.kubernetes.io/",),
    rules=(entrypoint_timeouts,),
)

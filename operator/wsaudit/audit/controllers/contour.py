"""Contour (Envoy). WebSocket is opt-in per route: the paths must be listed in
projectcontour.io/websocket-routes, or Envoy refuses the upgrade.

Docs: https://projectcontour.io/docs/main/config/annotations/ and
https://projectcontour.io/docs/main/config/websockets/
"""

from __future__ import annotations

from collections.abc import Iterator

from ..controller import Context, Controller, split_list
from ..model import Finding, Severity

ROUTES = "projectcontour.io/websocket-routes"
LEGACY_ROUTES = "contour.heptio.com/websocket-routes"


def websocket_routes(ctx: Context) -> Iterator[Finding]:
    listed = split_list(ctx.annotations.get(ROUTES)) | split_list(
        ctx.annotations.get(LEGACY_ROUTES)
    )
    paths = sorted({b.path for b in ctx.ingress.websocket_backends()})
    missing = [path for path in paths if path not in listed]
    if missing:
        yield ctx.finding(
            "websocket-routes",
            Severity.ERROR,
            f"path {', '.join(missing)} is not in {ROUTES}: Envoy does not upgrade it, so "
            "the WebSocket handshake fails",
            f'set {ROUTES}: "{",".join(sorted(listed | set(missing)))}" on the Ingress',
        )


CONTROLLER = Controller(
    id="contour",
    title="Contour",
    docs="https://projectcontour.io/docs/main/config/annotations/",
    ingress_class_controllers=("projectcontour.io/ingress-controller",),
    class_names=("contour",),
    annotation_prefixes=("projectcontour.io/", "contour.heptio.com/"),
    rules=(websocket_routes,),
)

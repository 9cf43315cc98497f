"""HAProxy Kubernetes Ingress Controller (haproxytech/kubernetes-ingress, haproxy.org/*).

Its tunnel timeout (what bounds a WebSocket, default 1h) is read from the controller's
ConfigMap only, not from Ingress annotations.
Docs: https://www.haproxy.com/documentation/kubernetes-ingress/community/configuration-reference/
"""

from __future__ import annotations

from collections.abc import Iterator

from ..controller import Context, Controller
from ..model import Finding, Severity

PREFIX = "haproxy.org/"
TUNNEL = f"{PREFIX}timeout-tunnel"


def tunnel_timeout(ctx: Context) -> Iterator[Finding]:
    if TUNNEL in ctx.annotations:
        yield ctx.finding(
            "timeout-tunnel-on-ingress",
            Severity.WARNING,
            f"{TUNNEL} on an Ingress does nothing: this controller reads the tunnel timeout "
            "(which bounds WebSocket connections) only from its ConfigMap",
            "remove the annotation and set timeout-tunnel in the controller's ConfigMap "
            "(default 1h)",
        )
    else:
        yield ctx.finding(
            "timeout-tunnel",
            Severity.INFO,
            "WebSocket connections are bounded by the controller's tunnel timeout, set in "
            "its ConfigMap (timeout-tunnel, default 1h), not on the Ingress",
            "check timeout-tunnel in the HAProxy controller ConfigMap",
        )


CONTROLLER = Controller(
    id="haproxy-tech",
    title="HAProxy Kubernetes Ingress Controller (haproxy.org)",
    docs="https://www.haproxy.com/documentation/kubernetes-ingress/community/configuration-reference/ingress/",
    ingress_class_controllers=("haproxy.org/ingress-controller",),
    class_names=("haproxy",),
    annotation_prefixes=(PREFIX,),
    rules=(tunnel_timeout,),
)

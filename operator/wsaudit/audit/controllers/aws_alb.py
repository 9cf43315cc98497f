"""AWS Load Balancer Controller (ALB). WebSockets pass through an ALB unchanged; its idle
timeout (load balancer attribute idle_timeout.timeout_seconds, default 60 s, at most 4000 s)
closes quiet connections.

Docs: https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/
"""

from __future__ import annotations

from collections.abc import Iterator

from ..controller import (
    Context,
    Controller,
    Timeout,
    check_timeout,
    redirect_required_rule,
    wanted_seconds,
)
from ..durations import Format
from ..model import Finding

PREFIX = "alb.ingress.kubernetes.io/"
ATTRIBUTES = f"{PREFIX}load-balancer-attributes"
IDLE_KEY = "idle_timeout.timeout_seconds"
IDLE = Timeout(
    "idle-timeout",
    IDLE_KEY,
    Format.SECONDS,
    60,
    where=f"inside {ATTRIBUTES}",
    maximum=4000,
    meaning="the ALB closes connections idle for longer",
)


def idle_timeout(ctx: Context) -> Iterator[Finding]:
    attributes: dict[str, str] = {}
    for pair in ctx.annotations.get(ATTRIBUTES, "").split(","):
        key, sep, value = pair.partition("=")
        if sep:
            attributes[key.strip()] = value.strip()
    kept = [f"{k}={v}" for k, v in attributes.items() if k != IDLE_KEY]
    wanted = f"{IDLE_KEY}={int(wanted_seconds(ctx, IDLE))}"
    fix = (
        f'set {ATTRIBUTES}: "{",".join([*kept, wanted])}" (every Ingress of an IngressGroup '
        "shares one ALB)"
    )
    finding = check_timeout(ctx, IDLE, attributes, fix)
    if finding is not None:
        yield finding


CONTROLLER = Controller(
    id="aws-alb",
    title="AWS Load Balancer Controller",
    docs="https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/",
    ingress_class_controllers=("ingress.k8s.aws/alb",),
    class_names=("alb",),
    annotation_prefixes=(PREFIX,),
    rules=(idle_timeout, redirect_required_rule(f"{PREFIX}ssl-redirect", "443")),
    tls_annotations=(f"{PREFIX}certificate-arn",),
    known_mistakes={
        f"{PREFIX}connection-idle-timeout": f"the idle timeout is set with {ATTRIBUTES}: "
        f'"{IDLE_KEY}=3600"',
        f"{PREFIX}idle-timeout": f'the idle timeout is set with {ATTRIBUTES}: "{IDLE_KEY}=3600"',
    },
)

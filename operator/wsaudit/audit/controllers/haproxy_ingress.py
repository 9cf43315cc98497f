"""HAProxy Ingress (jcmoraisjr/haproxy-ingress). WebSockets run in HAProxy's tunnel mode,
bounded by timeout-tunnel (default 1h), settable per Ingress.

Docs: https://haproxy-ingress.github.io/docs/configuration/keys/#timeout
"""

from __future__ import annotations

from ..controller import Controller, Timeout, redirect_disabled_rule, timeout_rule
from ..durations import Format

PREFIX = "haproxy-ingress.github.io/"

CONTROLLER = Controller(
    id="haproxy-ingress",
    title="HAProxy Ingress (haproxy-ingress.github.io)",
    docs="https://haproxy-ingress.github.io/docs/configuration/keys/",
    ingress_class_controllers=("haproxy-ingress.github.io/controller",),
    class_names=("haproxy",),
    annotation_prefixes=(PREFIX,),
    rules=(
        timeout_rule(
            Timeout(
                "timeout-tunnel",
                f"{PREFIX}timeout-tunnel",
                Format.HAPROXY,
                3600,
                fix_format=lambda seconds: f"{seconds:g}s",
            )
        ),
        redirect_disabled_rule(f"{PREFIX}ssl-redirect"),
    ),
)

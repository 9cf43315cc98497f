"""F5 NGINX Ingress Controller (nginxinc/kubernetes-ingress, annotations nginx.org/*).

Docs: https://docs.nginx.com/nginx-ingress-controller/configuration/ingress-resources/advanced-configuration-with-annotations/
Unlike ingress-nginx, WebSocket is opt-in per backend Service (nginx.org/websocket-services).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..controller import (
    Context,
    Controller,
    Timeout,
    redirect_disabled_rule,
    services_of_websocket_paths,
    split_list,
    timeout_rule,
)
from ..durations import Format
from ..model import Finding, Severity

PREFIX = "nginx.org/"
WEBSOCKET_SERVICES = f"{PREFIX}websocket-services"


def _as_nginx_time(seconds: float) -> str:
    return f"{seconds:g}s"


TIMEOUTS = (
    Timeout(
        "proxy-read-timeout",
        f"{PREFIX}proxy-read-timeout",
        Format.NGINX,
        60,
        fix_format=_as_nginx_time,
    ),
    Timeout(
        "proxy-send-timeout",
        f"{PREFIX}proxy-send-timeout",
        Format.NGINX,
        60,
        fix_format=_as_nginx_time,
    ),
)


def websocket_services(ctx: Context) -> Iterator[Finding]:
    listed = split_list(ctx.annotations.get(WEBSOCKET_SERVICES))
    missing = [s for s in services_of_websocket_paths(ctx.ingress) if s not in listed]
    if missing:
        wanted = ",".join(sorted(listed | set(missing)))
        yield ctx.finding(
            "websocket-services",
            Severity.ERROR,
            f"Service {', '.join(missing)} serves WebSocket paths but is not listed in "
            f"{WEBSOCKET_SERVICES}: NGINX proxies it without the Upgrade headers, so the "
            "handshake fails",
            f'set {WEBSOCKET_SERVICES}: "{wanted}" on the Ingress',
        )


CONTROLLER = Controller(
    id="nginx-inc",
    title="F5 NGINX Ingress Controller",
    docs="https://docs.nginx.com/nginx-ingress-controller/configuration/ingress-resources/advanced-configuration-with-annotations/",
    ingress_class_controllers=("nginx.org/ingress-controller",),
    class_names=("nginx",),
    annotation_prefixes=(PREFIX, "nginx.com/"),
    rules=(
        websocket_services,
        timeout_rule(*TIMEOUTS),
        redirect_disabled_rule("ingress.kubernetes.io/ssl-redirect"),
    ),
    known_mistakes={
        f"{PREFIX}websocket": f"use {WEBSOCKET_SERVICES} with the backend Service names",
    },
)

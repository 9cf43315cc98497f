"""ingress-nginx (kubernetes/ingress-nginx), the community controller, retired in March 2026.

Docs: https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/
WebSockets work without configuration; the proxy timeouts (60 s) are what cut them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..controller import Context, Controller, Timeout, redirect_disabled_rule, timeout_rule
from ..durations import Format
from ..model import Finding, Severity

PREFIX = "nginx.ingress.kubernetes.io/"
TIMEOUTS = (
    Timeout("proxy-read-timeout", f"{PREFIX}proxy-read-timeout", Format.SECONDS, 60),
    Timeout("proxy-send-timeout", f"{PREFIX}proxy-send-timeout", Format.SECONDS, 60),
)
SNIPPETS = ("configuration-snippet", "server-snippet")
_HEADER = re.compile(r"proxy_set_header\s+(Upgrade|Connection)\s+([^;]*);", re.IGNORECASE)
_GOOD_VALUES = {"$http_upgrade", '"upgrade"', "upgrade", "$connection_upgrade", "'upgrade'"}
_HTTP_VERSION = re.compile(r"proxy_http_version\s+([0-9.]+)\s*;")
_POLLING_FALLBACK = ("socket.io", "sockjs", "signalr")


def http_version(ctx: Context) -> Iterator[Finding]:
    value = ctx.annotations.get(f"{PREFIX}proxy-http-version")
    if value is not None and value.strip() != "1.1":
        yield ctx.finding(
            "proxy-http-version",
            Severity.ERROR,
            f"{PREFIX}proxy-http-version is {value!r}: the WebSocket upgrade needs HTTP/1.1 "
            "to the backend, so every handshake fails",
            f'remove {PREFIX}proxy-http-version or set it to "1.1"',
        )


def snippets(ctx: Context) -> Iterator[Finding]:
    for name in SNIPPETS:
        snippet = ctx.annotations.get(f"{PREFIX}{name}", "")
        for header, value in _HEADER.findall(snippet):
            if value.strip() not in _GOOD_VALUES:
                yield ctx.finding(
                    "snippet-overrides-upgrade",
                    Severity.ERROR,
                    f"{PREFIX}{name} sets {header} to {value.strip()!r}, overriding what "
                    "ingress-nginx sends for upgrades: the backend never sees the WebSocket "
                    "upgrade",
                    f"remove the proxy_set_header {header} line from {PREFIX}{name}",
                )
        for version in _HTTP_VERSION.findall(snippet):
            if version != "1.1":
                yield ctx.finding(
                    "snippet-overrides-upgrade",
                    Severity.ERROR,
                    f"{PREFIX}{name} sets proxy_http_version {version}: upgrades need 1.1",
                    f"remove proxy_http_version from {PREFIX}{name}",
                )


def session_affinity(ctx: Context) -> Iterator[Finding]:
    fallback = [
        b.path
        for b in ctx.ingress.backends
        if any(word in b.path.lower() for word in _POLLING_FALLBACK)
    ]
    if fallback and ctx.annotations.get(f"{PREFIX}affinity") != "cookie":
        yield ctx.finding(
            "session-affinity",
            Severity.WARNING,
            f"{', '.join(sorted(set(fallback)))} looks like Socket.IO/SockJS/SignalR, whose "
            "long-polling fallback and handshake need every request of a session on one "
            "pod; without affinity it fails with more than one replica",
            f'set {PREFIX}affinity: "cookie" (and {PREFIX}affinity-mode: "persistent")',
        )


def retired(ctx: Context) -> Iterator[Finding]:
    yield ctx.finding(
        "retired",
        Severity.INFO,
        "ingress-nginx is retired: maintenance, including security fixes, ended in March 2026",
        "plan a migration to a maintained controller or to Gateway API (see "
        "https://kubernetes.io/blog/2025/11/11/ingress-nginx-retirement/); wsaudit audits "
        "the replacement's annotations too",
    )


CONTROLLER = Controller(
    id="ingress-nginx",
    title="ingress-nginx (community)",
    docs="https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/",
    ingress_class_controllers=("k8s.io/ingress-nginx",),
    class_names=("nginx", "ingress-nginx"),
    annotation_prefixes=(PREFIX,),
    rules=(
        timeout_rule(*TIMEOUTS),
        http_version,
        snippets,
        session_affinity,
        redirect_disabled_rule(f"{PREFIX}ssl-redirect"),
        retired,
    ),
    known_mistakes={
        f"{PREFIX}websocket-services": "ingress-nginx needs no WebSocket annotation; "
        "nginx.org/websocket-services belongs to F5 NGINX Ingress Controller",
        f"{PREFIX}proxy-idle-timeout": f"use {PREFIX}proxy-read-timeout and "
        f"{PREFIX}proxy-send-timeout",
    },
)

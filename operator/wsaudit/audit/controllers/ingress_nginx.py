"""ingress-nginx (kubernetes/ingress-nginx), the community controller, retired in March 2026.

Docs: https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/
WebSockets work without configuration: every location sends `Upgrade $http_upgrade` and
`Connection $connection_upgrade` with HTTP/1.1. What cuts them is proxy_read_timeout (60 s):
on an upgraded connection nginx arms proxy_send_timeout only while a write to the backend is
blocked, so only the read timeout cuts an idle tunnel (traffic either way resets it).

IngressClass `k8s.io/ingress-nginx` is also served by Traefik's ingress-nginx provider, so
facts about the community controller itself (its retirement, its snippet policy) are stated
as "if this is the community controller".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from ..controller import (
    Context,
    Controller,
    Timeout,
    redirect_disabled_rule,
    wanted_seconds,
)
from ..durations import DurationError, Format, human, parse_duration
from ..model import Change, Finding, Hop, Limit, Severity, set_annotation

PREFIX = "nginx.ingress.kubernetes.io/"
# The chart's ConfigMap (ingress-nginx-controller) and the older manifests' name.
CONFIG_MAP_NAMES = ("ingress-nginx-controller", "nginx-configuration")
DEFAULT_TIMEOUT = 60.0  # internal/ingress/controller/config/config.go: ProxyReadTimeout: 60
DEFAULT_WORKER_SHUTDOWN = "240s"
COMMUNITY = "if this is the community controller"
READ = Timeout("proxy-read-timeout", f"{PREFIX}proxy-read-timeout", Format.SECONDS, 60)
SEND = Timeout("proxy-send-timeout", f"{PREFIX}proxy-send-timeout", Format.SECONDS, 60)
TIMEOUTS = (READ, SEND)
SNIPPETS = ("configuration-snippet", "server-snippet")
_HEADER = re.compile(r"proxy_set_header\s+(Upgrade|Connection)\s+([^;]*);", re.IGNORECASE)
# Directives the template already sets in every proxy location (nginx.tmpl, location block):
# a second one in the same location makes `nginx -t` fail with "... directive is duplicate".
# The annotation that sets each instead, with how to turn the snippet's value into it.
LOCATION_DIRECTIVES = {
    "proxy_connect_timeout": "proxy-connect-timeout",
    "proxy_send_timeout": "proxy-send-timeout",
    "proxy_read_timeout": "proxy-read-timeout",
    "proxy_buffering": "proxy-buffering",
    "proxy_buffer_size": "proxy-buffer-size",
    "proxy_buffers": None,
    "proxy_request_buffering": "proxy-request-buffering",
    "proxy_http_version": "proxy-http-version",
    "proxy_next_upstream_timeout": "proxy-next-upstream-timeout",
    "proxy_next_upstream_tries": "proxy-next-upstream-tries",
}
_DIRECTIVE = re.compile(
    r"(?m)(?:^|(?<=[;{}]))\s*(" + "|".join(LOCATION_DIRECTIVES) + r")\s+([^;]*);[ \t]*\n?"
)
_POLLING_FALLBACK = ("socket.io", "sockjs", "signalr")
_TIME_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NGINX_TIME = re.compile(r"([0-9]+)(ms|s|m|h|d)?")

# The annotations ingress-nginx reads (docs/user-guide/nginx-configuration/annotations.md).
# Minus the proxy timeouts: controllers write them in different formats (F5 NGINX "1h",
# ingress-nginx bare seconds), so renaming one is no fix; foreign-annotation and the timeout
# rules judge them.
ANNOTATION_NAMES = frozenset(
    {
        "affinity",
        "affinity-canary-behavior",
        "affinity-mode",
        "app-root",
        "auth-cache-duration",
        "auth-cache-key",
        "auth-keepalive",
        "auth-keepalive-requests",
        "auth-keepalive-share-vars",
        "auth-keepalive-timeout",
        "auth-proxy-set-headers",
        "auth-realm",
        "auth-secret",
        "auth-secret-type",
        "auth-snippet",
        "auth-tls-error-page",
        "auth-tls-match-cn",
        "auth-tls-pass-certificate-to-upstream",
        "auth-tls-secret",
        "auth-tls-verify-client",
        "auth-tls-verify-depth",
        "auth-type",
        "auth-url",
        "backend-protocol",
        "canary",
        "canary-by-cookie",
        "canary-by-header",
        "canary-by-header-pattern",
        "canary-by-header-value",
        "canary-weight",
        "canary-weight-total",
        "client-body-buffer-size",
        "configuration-snippet",
        "connection-proxy-header",
        "cors-allow-credentials",
        "cors-allow-headers",
        "cors-allow-methods",
        "cors-allow-origin",
        "cors-expose-headers",
        "cors-max-age",
        "custom-headers",
        "custom-http-errors",
        "default-backend",
        "denylist-source-range",
        "enable-access-log",
        "enable-cors",
        "enable-global-auth",
        "enable-modsecurity",
        "enable-opentelemetry",
        "enable-owasp-core-rules",
        "enable-rewrite-log",
        "force-ssl-redirect",
        "from-to-www-redirect",
        "http2-push-preload",
        "limit-connections",
        "limit-rps",
        "load-balance",
        "mirror-host",
        "mirror-request-body",
        "mirror-target",
        "modsecurity-snippet",
        "modsecurity-transaction-id",
        "opentelemetry-trust-incoming-span",
        "permanent-redirect",
        "permanent-redirect-code",
        "preserve-trailing-slash",
        "proxy-body-size",
        "proxy-buffer-size",
        "proxy-buffering",
        "proxy-buffers-number",
        "proxy-busy-buffers-size",
        "proxy-cookie-domain",
        "proxy-cookie-path",
        "proxy-http-version",
        "proxy-max-temp-file-size",
        "proxy-next-upstream",
        "proxy-next-upstream-timeout",
        "proxy-next-upstream-tries",
        "proxy-redirect-from",
        "proxy-redirect-to",
        "proxy-request-buffering",
        "proxy-ssl-ciphers",
        "proxy-ssl-name",
        "proxy-ssl-protocols",
        "proxy-ssl-secret",
        "proxy-ssl-server-name",
        "proxy-ssl-verify",
        "proxy-ssl-verify-depth",
        "rewrite-target",
        "satisfy",
        "server-alias",
        "server-snippet",
        "service-upstream",
        "session-cookie-change-on-failure",
        "session-cookie-conditional-samesite-none",
        "session-cookie-domain",
        "session-cookie-expires",
        "session-cookie-max-age",
        "session-cookie-name",
        "session-cookie-path",
        "session-cookie-samesite",
        "session-cookie-secure",
        "ssl-ciphers",
        "ssl-passthrough",
        "ssl-prefer-server-ciphers",
        "ssl-redirect",
        "stream-snippet",
        "temporal-redirect",
        "temporal-redirect-code",
        "upstream-hash-by",
        "upstream-hash-by-subset",
        "upstream-hash-by-subset-size",
        "upstream-vhost",
        "use-regex",
        "whitelist-source-range",
        "x-forwarded-prefix",
    }
)


def _config(ctx: Context) -> tuple[str, Mapping[str, str]]:
    found = ctx.controller_config()
    return found if found is not None else ("", {})


def _effective(ctx: Context, timeout: Timeout) -> tuple[float, str, Finding | None]:
    """The timeout nginx applies, what sets it, and a finding when the annotation is invalid.

    The annotation wins; without it (or when it is not an integer: GetIntAnnotation fails and
    the ConfigMap's value is used) the ConfigMap's, else 60 s."""
    ref, data = _config(ctx)
    name = timeout.key.removeprefix(PREFIX)
    fallback, origin = DEFAULT_TIMEOUT, f"{timeout.key} is not set and the default 60 s applies"
    if name in data:
        try:
            fallback = parse_duration(data[name], Format.SECONDS)
            origin = f"ConfigMap {ref} sets {name}: {data[name]!r} and no annotation overrides it"
        except DurationError:
            origin = (
                f"ConfigMap {ref} has {name}: {data[name]!r}, not a whole number of seconds, "
                "so the default 60 s applies"
            )
    raw = ctx.annotations.get(timeout.key)
    if raw is None:
        return fallback, origin, None
    try:
        return parse_duration(raw, Format.SECONDS), f"{timeout.key} is {raw!r}", None
    except DurationError:
        wanted = f"{wanted_seconds(ctx, timeout):g}"
        invalid = ctx.finding(
            f"{timeout.rule}-invalid",
            Severity.WARNING if timeout is READ else Severity.INFO,
            f"{timeout.key} is {raw!r}, not {Format.SECONDS.value}: ingress-nginx ignores it "
            f"and uses {'the ConfigMap value' if ref and name in data else 'its default'} "
            f"{human(fallback)}",
            f'set {timeout.key}: "{wanted}" on the Ingress',
            (set_annotation(timeout.key, wanted),),
        )
        return fallback, f"{timeout.key} {raw!r} is ignored and {human(fallback)} applies", invalid


def read_timeout(ctx: Context) -> Iterator[Finding]:
    seconds, origin, invalid = _effective(ctx, READ)
    wanted = wanted_seconds(ctx, READ)
    if invalid is not None:
        yield invalid  # its fix sets the minimum too
    elif seconds < wanted:
        yield ctx.finding(
            "proxy-read-timeout",
            Severity.WARNING,
            f"{origin} ({human(seconds)}): nginx closes a WebSocket on which the backend sends "
            f"nothing for that long, under the {human(wanted)} wsaudit expects for long-lived "
            "connections (traffic in either direction resets it)",
            f'set {READ.key}: "{wanted:g}" on the Ingress',
            (set_annotation(READ.key, f"{wanted:g}"),),
        )


def send_timeout(ctx: Context) -> Iterator[Finding]:
    """Said only when someone set it (likely believing it keeps WebSockets open): the
    default needs no word."""
    if SEND.key not in ctx.annotations:
        return
    seconds, origin, invalid = _effective(ctx, SEND)
    if invalid is not None:
        yield invalid
    elif seconds < wanted_seconds(ctx, SEND):
        yield ctx.finding(
            "proxy-send-timeout",
            Severity.INFO,
            f"{origin} ({human(seconds)}): this does not cut idle WebSockets; nginx arms it on "
            "an upgraded connection only while a write to the backend is blocked (a backend "
            f"that stops reading). Only {READ.key} cuts an idle WebSocket",
            f"nothing to do for idle connections; {READ.key} is the one to raise",
        )


def http_version(ctx: Context) -> Iterator[Finding]:
    key = f"{PREFIX}proxy-http-version"
    value = ctx.annotations.get(key)
    if value is not None and value.strip() != "1.1":
        yield ctx.finding(
            "proxy-http-version",
            Severity.ERROR,
            f"{key} is {value!r}: the WebSocket upgrade needs HTTP/1.1 to the backend, so "
            "every handshake fails",
            f"remove {key} (the default is 1.1)",
            (set_annotation(key, None),),
        )


def connection_header(ctx: Context) -> Iterator[Finding]:
    key = f"{PREFIX}connection-proxy-header"
    value = ctx.annotations.get(key)
    if value is None:
        return
    yield ctx.finding(
        "connection-proxy-header",
        Severity.ERROR,
        f"{key} is {value!r}: ingress-nginx then sends `Connection: {value.strip()}` to the "
        'backend instead of `Connection: $connection_upgrade` ("upgrade"), so the backend '
        "never sees an upgrade request and every WebSocket handshake fails",
        f"remove {key}",
        (set_annotation(key, None),),
    )


def _snippets_allowed(ctx: Context) -> tuple[bool, str]:
    """Whether snippet annotations are loaded, and why not (allow-snippet-annotations,
    default false; annotations-risk-level, default High since v1.12, below snippets'
    Critical)."""
    ref, data = _config(ctx)
    allow = data.get("allow-snippet-annotations", "false").strip().lower() == "true"
    risk = data.get("annotations-risk-level", "High").strip().lower()
    where = f"ConfigMap {ref}" if ref else "the defaults (ConfigMap not given)"
    if not allow:
        return False, (
            f"allow-snippet-annotations is false in {where}: the admission webhook rejects "
            'the Ingress ("Snippet directives are disabled by the Ingress administrator"), '
            "and without the webhook the controller drops the snippet"
        )
    if risk != "critical":
        return False, (
            f"annotations-risk-level is {risk.capitalize()} in {where} (High by default since "
            'v1.12) and snippets are Critical: the Ingress is rejected as "too risky" and '
            "never loaded"
        )
    return True, ""


def _snippet_moves(ctx: Context, snippet: str) -> tuple[str, list[Change], list[str]]:
    """The snippet without the directives the template already sets, the annotations that
    set them instead (unless already on the Ingress; a read timeout at least the minimum),
    and the directives found."""
    changes: list[Change] = []
    found: list[str] = []
    for directive, value in _DIRECTIVE.findall(snippet):
        found.append(f"{directive} {value.strip()}")
        annotation = LOCATION_DIRECTIVES[directive]
        key = f"{PREFIX}{annotation}"
        if annotation is None or directive == "proxy_http_version" or key in ctx.annotations:
            continue
        text = value.strip()
        if directive.endswith("timeout") and (seconds := _nginx_seconds(text)) is not None:
            if directive == "proxy_read_timeout":
                seconds = max(seconds, wanted_seconds(ctx, READ))
            text = f"{max(1, round(seconds)):d}"
        changes.append(set_annotation(key, text))
    return _DIRECTIVE.sub("", snippet).strip(), changes, found


def snippets(ctx: Context) -> Iterator[Finding]:
    present = [name for name in SNIPPETS if f"{PREFIX}{name}" in ctx.annotations]
    if not present:
        return
    location_key = f"{PREFIX}configuration-snippet"
    location_snippet = ctx.annotations.get(location_key, "")
    rest, moves, duplicated = _snippet_moves(ctx, location_snippet)
    if duplicated:
        yield ctx.finding(
            "snippet-duplicate-directive",
            Severity.ERROR,
            f"{location_key} has {'; '.join(duplicated)}, which the ingress-nginx template "
            'already sets in the same location: `nginx -t` fails with "directive is '
            'duplicate", so the admission webhook rejects the Ingress (without the webhook '
            "the reload fails and no configuration change loads)",
            f"remove {', '.join(d.split()[0] for d in duplicated)} from {location_key} and use "
            "the annotations (proxy-read-timeout, proxy-http-version, ...) instead",
            (set_annotation(location_key, rest or None), *moves),
        )
    for name in present:
        key = f"{PREFIX}{name}"
        for header, value in _HEADER.findall(ctx.annotations[key]):
            if name == "server-snippet":
                what = (
                    "at server level, which no location inherits: every location sets its own "
                    "proxy_set_header lines, so this does nothing"
                )
            elif value.strip() in ('""', "''", ""):
                what = "to an empty value, which nginx does not send: the template's header stays"
            else:
                what = (
                    f"to {value.strip()}, which nginx sends as a second {header} header beside "
                    "the template's (it does not override it)"
                )
            yield ctx.finding(
                "snippet-header-added",
                Severity.INFO,
                f"{key} sets {header} {what}; ingress-nginx already sends `Upgrade "
                "$http_upgrade` and `Connection $connection_upgrade` on every location",
                f"remove the {header} line from {key}",
            )
    allowed, why = _snippets_allowed(ctx)
    if not allowed:
        keys = [f"{PREFIX}{name}" for name in present]
        yield ctx.finding(
            "snippets-disabled",
            Severity.WARNING,
            f"{', '.join(keys)}: {COMMUNITY}, {why}",
            f"remove {', '.join(keys)} and use annotations for what they set (an admin can "
            're-enable snippets, a security risk: allow-snippet-annotations "true" and '
            'annotations-risk-level "Critical" in the controller\'s ConfigMap)',
            (*(set_annotation(key, None) for key in keys), *moves),
        )


def session_affinity(ctx: Context) -> Iterator[Finding]:
    fallback = [
        b.path
        for b in ctx.ingress.backends
        if any(word in b.path.lower() for word in _POLLING_FALLBACK)
    ]
    if not fallback or ctx.annotations.get(f"{PREFIX}affinity") == "cookie":
        return
    if ctx.annotations.get(f"{PREFIX}upstream-hash-by", "").strip():
        return  # consistent hashing keeps a client on one pod too
    yield ctx.finding(
        "session-affinity",
        Severity.WARNING,
        f"{', '.join(sorted(set(fallback)))} looks like Socket.IO/SockJS/SignalR, whose "
        "long-polling fallback and handshake need every request of a session on one pod; "
        "without affinity (or upstream-hash-by) it fails with more than one replica",
        f'set {PREFIX}affinity: "cookie" (and {PREFIX}affinity-mode: "persistent"), or '
        f'{PREFIX}upstream-hash-by (e.g. "$remote_addr")',
        (
            set_annotation(f"{PREFIX}affinity", "cookie"),
            set_annotation(f"{PREFIX}affinity-mode", "persistent"),
        ),
    )


def _nginx_seconds(text: str) -> float | None:
    """An nginx time ("240s", "1h30m", "10"), as worker_shutdown_timeout takes it."""
    compact = text.strip().replace(" ", "")
    total, position = 0.0, 0
    for match in _NGINX_TIME.finditer(compact):
        if match.start() != position or not match.group(0):
            break
        total += int(match.group(1)) * _TIME_UNITS[match.group(2) or "s"]
        position = match.end()
    return total if compact and position == len(compact) else None


def worker_shutdown(ctx: Context) -> Iterator[Finding]:
    """Judged when the ConfigMap is given (without it the lifetime limit names the 240 s
    default): a cluster-level setting, not this Ingress's."""
    ref, data = _config(ctx)
    if not ref:
        return
    raw = data.get("worker-shutdown-timeout", DEFAULT_WORKER_SHUTDOWN)
    seconds = _nginx_seconds(raw)
    where = f"ConfigMap {ref}" if "worker-shutdown-timeout" in data else "the default"
    if seconds is not None and seconds >= ctx.settings.min_timeout_seconds:
        return
    yield ctx.finding(
        "worker-shutdown-timeout",
        Severity.INFO,
        f"worker-shutdown-timeout is {raw!r} ({where}): on every reload (an Ingress, Secret "
        "or ConfigMap change) the old nginx workers keep open WebSockets only that long, "
        "then close them all; clients must reconnect",
        'raise worker-shutdown-timeout in the controller\'s ConfigMap (e.g. "3600s"; old '
        "workers then live that long), and make clients reconnect with backoff",
    )


def retired(ctx: Context) -> Iterator[Finding]:
    yield ctx.finding(
        "retired",
        Severity.INFO,
        f"{COMMUNITY} (Traefik's ingress-nginx provider can serve the same IngressClass): "
        "ingress-nginx is retired, maintenance including security fixes ended in March 2026",
        "plan a migration to a maintained controller or to Gateway API (see "
        "https://kubernetes.io/blog/2025/11/11/ingress-nginx-retirement/); wsaudit audits "
        "the replacement's annotations too",
    )


def limits(ctx: Context) -> Iterator[Limit]:
    seconds, origin, _ = _effective(ctx, READ)
    yield Limit("idle", seconds, Hop.CONTROLLER, f"proxy_read_timeout: {origin}")
    yield Limit(
        "lifetime",
        None,
        Hop.CONTROLLER,
        "none (but each reload closes open WebSockets after worker-shutdown-timeout, "
        f"{_config(ctx)[1].get('worker-shutdown-timeout', DEFAULT_WORKER_SHUTDOWN)})",
    )


def tls_terminated(ctx: Context) -> str | None:
    """ingress-nginx serves a host listed in spec.tls without a secretName with its default
    certificate (--default-ssl-certificate, else a self-signed one); with force-ssl-redirect
    in its ConfigMap it redirects every host to https with that certificate."""
    ref, data = _config(ctx)
    if data.get("force-ssl-redirect", "").strip().lower() == "true":
        return f"the default certificate (force-ssl-redirect in ConfigMap {ref})"
    without_secret = {
        str(host).lower()
        for entry in ctx.ingress.tls_entries
        if not entry.get("secretName")
        for host in (entry.get("hosts") or [])
    }
    hosts = {b.host for b in ctx.ingress.websocket_backends() if b.host}
    if hosts and hosts <= without_secret:
        return "the default certificate (spec.tls entry without secretName)"
    return None


CONTROLLER = Controller(
    id="ingress-nginx",
    title="ingress-nginx (community)",
    docs="https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/",
    ingress_class_controllers=("k8s.io/ingress-nginx",),
    class_names=("nginx", "ingress-nginx"),
    annotation_prefixes=(PREFIX,),
    rules=(
        read_timeout,
        send_timeout,
        http_version,
        connection_header,
        snippets,
        session_affinity,
        redirect_disabled_rule(f"{PREFIX}ssl-redirect"),
        worker_shutdown,
        retired,
    ),
    known_mistakes={
        f"{PREFIX}websocket-services": "ingress-nginx needs no WebSocket annotation; "
        "nginx.org/websocket-services belongs to F5 NGINX Ingress Controller",
        f"{PREFIX}proxy-idle-timeout": f"use {PREFIX}proxy-read-timeout (what cuts idle "
        "WebSockets)",
    },
    limits=limits,
    tls_terminated=tls_terminated,
    config_map_names=CONFIG_MAP_NAMES,
    annotation_names=ANNOTATION_NAMES,
)

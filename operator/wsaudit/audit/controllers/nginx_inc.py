"""F5 NGINX Ingress Controller (nginx/kubernetes-ingress, annotations nginx.org/*).

Docs: https://docs.nginx.com/nginx-ingress-controller/configuration/ingress-resources/advanced-configuration-with-annotations/
Unlike ingress-nginx, WebSocket is opt-in per backend Service (nginx.org/websocket-services):
only those locations get `Upgrade`/`Connection` (internal/configs/version1/nginx.ingress.tmpl).
Times go through ParseTime (internal/configs/parsing_helpers.go): whole numbers per unit,
units y M w d h m s ms in that order and case-sensitive (`M` is months); a value it rejects
is logged and the ConfigMap's value (else the 60 s default) applies (annotations.go:288-294:
the annotations start from the ConfigMap's parameters).

The ConfigMap (`-nginx-configmaps`: `nginx-config` in deployments/common/nginx-config.yaml,
the chart's `<release>-nginx-ingress`, charts/nginx-ingress/templates/_helpers.tpl:91-97)
passes proxy-read-timeout through unchecked (internal/configs/configmaps.go:86-87): nginx
parses it itself (ngx_parse_time for a msec directive: no y or M) or `nginx -t` fails.

Snippets (nginx.org/location-snippets, server-snippets) need the -enable-snippets flag
(cmd/nginx-ingress/flags.go:210, off by default); without it the Ingress is rejected
(internal/k8s/validation.go:1191-1194, configuration.go:504-507). A location snippet lands
in every proxy location beside the directives the template always writes there
(nginx.ingress.tmpl:346-386): repeating one makes `nginx -t` fail ("directive is duplicate").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..controller import (
    Context,
    Controller,
    go_bool,
    redirect_disabled_rule,
    services_of_websocket_paths,
    split_list,
)
from ..durations import human
from ..model import Change, Finding, Hop, Limit, Severity, set_annotation

PREFIX = "nginx.org/"
WEBSOCKET_SERVICES = f"{PREFIX}websocket-services"
READ_TIMEOUT = f"{PREFIX}proxy-read-timeout"
SEND_TIMEOUT = f"{PREFIX}proxy-send-timeout"
SSL_REDIRECT = f"{PREFIX}ssl-redirect"
LEGACY_SSL_REDIRECT = "ingress.kubernetes.io/ssl-redirect"
DEFAULT_TIMEOUT = 60.0  # internal/configs/config_params.go: ProxyReadTimeout: "60s"
LOCATION_SNIPPETS = f"{PREFIX}location-snippets"
SERVER_SNIPPETS = f"{PREFIX}server-snippets"
GRPC_SERVICES = f"{PREFIX}grpc-services"
# deployments/common/nginx-config.yaml; the chart names it after its fullname: the release
# name when it contains "nginx-ingress", else "<release>-nginx-ingress".
CONFIG_MAP_NAMES = ("nginx-config", "nginx-ingress")
CHART_CONFIG_MAP_SUFFIX = "-nginx-ingress"
# Directives nginx.ingress.tmpl writes in every proxy location (346, 362-365, 386), with
# the annotation that sets each instead (None: nothing to move, 1.1 is what WebSockets need).
LOCATION_DIRECTIVES: dict[str, str | None] = {
    "proxy_http_version": None,
    "proxy_connect_timeout": "proxy-connect-timeout",
    "proxy_read_timeout": "proxy-read-timeout",
    "proxy_send_timeout": "proxy-send-timeout",
    "client_max_body_size": "client-max-body-size",
    "proxy_buffering": "proxy-buffering",
}
# Written only when the annotation (or the ConfigMap key) of that name is set (366-407).
LOCATION_DIRECTIVES_WHEN_SET = {
    "client_body_buffer_size": "client-body-buffer-size",
    "proxy_buffers": "proxy-buffers",
    "proxy_buffer_size": "proxy-buffer-size",
    "proxy_busy_buffers_size": "proxy-busy-buffers-size",
    "proxy_max_temp_file_size": "proxy-max-temp-file-size",
    "proxy_next_upstream_timeout": "proxy-next-upstream-timeout",
    "proxy_next_upstream_tries": "proxy-next-upstream-tries",
}
_DIRECTIVE = re.compile(
    r"(?m)(?:^|(?<=[;{}]))\s*("
    + "|".join((*LOCATION_DIRECTIVES, *LOCATION_DIRECTIVES_WHEN_SET))
    + r")\s+([^;]*);[ \t]*\n?"
)
_HEADER = re.compile(
    r"(?m)(?:^|(?<=[;{}]))\s*proxy_set_header\s+(Upgrade|Connection)\s+([^;]*);[ \t]*\n?",
    re.IGNORECASE,
)
# internal/configs/parsing_helpers.go timeRegexp, with [0-9] for Go's ASCII \d.
_TIME = re.compile(
    r"^([0-9]+y)??\s*([0-9]+M)??\s*([0-9]+w)??\s*([0-9]+d)??\s*([0-9]+h)??\s*([0-9]+m)??"
    r"\s*([0-9]+s?)??\s*([0-9]+ms)??$"
)
# nginx's units (ngx_parse_time): a month is 30 days, a year 365.
_SCALES = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_TIME_FORMAT = (
    "an nginx time F5 NGINX accepts: whole numbers, units y M w d h m s ms in that order, "
    "case-sensitive (M is months), e.g. 3600s or 1h"
)
# strconv.ParseBool, which GetMapKeyAsBool uses.
# Minus the proxy timeouts: controllers write them in different formats (F5 NGINX "1h",
# ingress-nginx bare seconds), so renaming one is no fix; foreign-annotation and the timeout
# rules judge them.
ANNOTATION_NAMES = frozenset(
    {
        "add-header",
        "add-header-inherit",
        "app-root",
        "basic-auth-realm",
        "basic-auth-secret",
        "client-body-buffer-size",
        "client-max-body-size",
        "custom-http-errors",
        "fail-timeout",
        "grpc-services",
        "health-checks",
        "health-checks-mandatory",
        "health-checks-mandatory-queue",
        "hsts",
        "hsts-behind-proxy",
        "hsts-include-subdomains",
        "hsts-max-age",
        "http-redirect-code",
        "jwt-key",
        "jwt-login-url",
        "jwt-realm",
        "jwt-token",
        "keepalive",
        "lb-method",
        "limit-req-burst",
        "limit-req-delay",
        "limit-req-dry-run",
        "limit-req-key",
        "limit-req-log-level",
        "limit-req-no-delay",
        "limit-req-rate",
        "limit-req-reject-code",
        "limit-req-scale",
        "limit-req-zone-size",
        "listen-ports",
        "listen-ports-ssl",
        "location-snippets",
        "max-conns",
        "max-fails",
        "path-regex",
        "policies",
        "proxy-buffer-size",
        "proxy-buffering",
        "proxy-buffers",
        "proxy-busy-buffers-size",
        "proxy-hide-headers",
        "proxy-max-temp-file-size",
        "proxy-next-upstream",
        "proxy-next-upstream-timeout",
        "proxy-next-upstream-tries",
        "proxy-pass-headers",
        "proxy-redirect-from",
        "proxy-redirect-to",
        "proxy-set-headers",
        "redirect-to-https",
        "rewrite-target",
        "rewrites",
        "server-snippets",
        "server-tokens",
        "slow-start",
        "ssl-ciphers",
        "ssl-prefer-server-ciphers",
        "ssl-services",
        "sticky-cookie-services",
        "upstream-zone-size",
        "use-cluster-ip",
        "websocket-services",
        # ssl-redirect is read under ingress.kubernetes.io/ too: legacy_ssl_redirect judges it.
    }
)


def parse_time(value: str) -> float | None:
    """Seconds, as F5 NGINX's ParseTime accepts the value, or None when it rejects it."""
    if not value.strip():
        return None
    match = _TIME.match(value)
    if match is None:
        return None
    total = 0.0
    for part, scale in zip(match.groups(), _SCALES, strict=True):
        if part:
            total += int(part.rstrip("yMwdhms")) * scale
    return total


def _wanted(ctx: Context) -> str:
    return f"{ctx.settings.min_timeout_seconds:g}s"


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
            (set_annotation(WEBSOCKET_SERVICES, wanted),),
        )


def nginx_time(value: str) -> float | None:
    """Seconds, as nginx reads a time for a millisecond directive such as
    proxy_read_timeout (ngx_parse_time with is_sec 0, src/core/ngx_parse.c:111-283), or None
    when `nginx -t` rejects it: units in the order w d h m s ms (no y or M), a bare number
    is seconds, a space ends a part."""
    steps = {"w": (3, 604800.0), "d": (4, 86400.0), "h": (5, 3600.0), "m": (6, 60.0)}
    text = value
    step, number, total, valid, i = 2, 0, 0.0, False, 0
    while i < len(text):
        char = text[i]
        i += 1
        if "0" <= char <= "9":
            number, valid = number * 10 + int(char), True
            continue
        if char == "m" and i < len(text) and text[i] == "s":
            if step >= 8:
                return None
            i, step, scale = i + 1, 8, 0.001
        elif char in steps:
            if step >= steps[char][0]:
                return None
            step, scale = steps[char]
        elif char == "s":
            if step >= 7:
                return None
            step, scale = 7, 1.0
        elif char == " ":
            if step >= 7:
                return None
            step, scale = 9, 1.0
        else:
            return None  # y and M included: a msec directive starts past them
        total += number * scale
        number = 0
        while i < len(text) and text[i] == " ":
            i += 1
    return total + number if valid else None


def config_time(value: str) -> float | None:
    """Seconds of a ConfigMap time as nginx reads the line F5 NGINX writes with it: unquoted
    (`proxy_read_timeout {{$location.ProxyReadTimeout}};`), so a space splits it into two
    arguments and `nginx -t` fails ("invalid number of arguments")."""
    return None if not value or any(c.isspace() for c in value) else nginx_time(value)


def _config(ctx: Context) -> tuple[str, Mapping[str, str]] | None:
    """The controller's ConfigMap: one of CONFIG_MAP_NAMES, else one the chart names
    `<release>-nginx-ingress`."""
    found = ctx.controller_config()
    if found is not None:
        return found
    for (namespace, name), config_map in sorted(ctx.related.config_maps.items()):
        if name.endswith(CHART_CONFIG_MAP_SUFFIX):
            data = config_map.get("data")
            values = data if isinstance(data, dict) else {}
            return f"{namespace}/{name}", {str(k): str(v) for k, v in values.items()}
    return None


def _config_change(ctx: Context, key: str, value: str) -> Change:
    found = _config(ctx)
    if found is None:
        return ctx.config_map_change(key, value)
    namespace, name = found[0].split("/", 1)
    return Change("ConfigMap", name, ("data", key), value, namespace)


@dataclass(frozen=True)
class _Effective:
    seconds: float
    origin: str  # how they came about
    fallback: str  # what applies without a valid annotation
    invalid: str | None = None  # the annotation's value, when ParseTime rejects it
    config_rejected: str | None = None  # the ConfigMap's value, when nginx rejects it


def _timeout(ctx: Context, key: str) -> _Effective:
    """The effective seconds: the annotation when ParseTime accepts it, else the ConfigMap's
    value (written unchecked into the location), else the 60 s default."""
    name = key.removeprefix(PREFIX)
    seconds, fallback, rejected = DEFAULT_TIMEOUT, "the default 60 s", None
    config = _config(ctx)
    if config is not None and name in config[1]:
        ref, raw_config = config[0], config[1][name]
        parsed = config_time(raw_config)
        if parsed is None:
            rejected = raw_config
            fallback = (
                f"ConfigMap {ref} {name} {raw_config!r}, which nginx rejects (the last valid "
                "configuration, 60 s by default, stays loaded)"
            )
        else:
            seconds = parsed
            fallback = f"ConfigMap {ref} {name} {raw_config!r} ({human(parsed)})"
    raw = ctx.annotations.get(key)
    if raw is None:
        return _Effective(
            seconds, f"{key} is not set, so {fallback} applies", fallback, None, rejected
        )
    parsed = parse_time(raw)
    if parsed is None:
        origin = f"{key} {raw!r} is rejected, so {fallback} applies"
        return _Effective(seconds, origin, fallback, raw, rejected)
    return _Effective(parsed, f"{key} is {raw!r} ({human(parsed)})", fallback, None, rejected)


def _invalid(ctx: Context, key: str, effective: _Effective, severity: Severity) -> Finding:
    return ctx.finding(
        f"{key.removeprefix(PREFIX)}-invalid",
        severity,
        f"{key} is {effective.invalid!r}, which is not {_TIME_FORMAT}: F5 NGINX logs an error "
        f"and uses {effective.fallback}",
        f'set {key}: "{_wanted(ctx)}" on the Ingress',
        (set_annotation(key, _wanted(ctx)),),
    )


def read_timeout(ctx: Context) -> Iterator[Finding]:
    effective = _timeout(ctx, READ_TIMEOUT)
    wanted = ctx.settings.min_timeout_seconds
    # A location snippet's proxy_read_timeout moves to the annotation (snippets' fix): keep it.
    _, moves, _ = _moves(ctx, ctx.annotations.get(LOCATION_SNIPPETS, ""), {"proxy_read_timeout"})
    value = next((str(c.value) for c in moves), _wanted(ctx))
    if effective.invalid is not None:
        yield _invalid(ctx, READ_TIMEOUT, effective, Severity.WARNING)  # its fix sets the minimum
    elif effective.seconds < wanted:
        yield ctx.finding(
            "proxy-read-timeout",
            Severity.WARNING,
            f"{effective.origin}: NGINX closes a WebSocket on which the backend sends nothing "
            f"for that long, under the {human(wanted)} wsaudit expects for long-lived "
            "connections (traffic in either direction resets it)",
            f'set {READ_TIMEOUT}: "{value}" on the Ingress (it wins over the ConfigMap)',
            (set_annotation(READ_TIMEOUT, value),),
        )


def config_read_timeout(ctx: Context) -> Iterator[Finding]:
    """The ConfigMap's proxy-read-timeout reaches nginx unchecked: one nginx rejects fails
    `nginx -t` for every location that uses it (those without the annotation)."""
    effective = _timeout(ctx, READ_TIMEOUT)
    config = _config(ctx)
    if effective.config_rejected is None or config is None:
        return
    name = READ_TIMEOUT.removeprefix(PREFIX)
    if READ_TIMEOUT in ctx.annotations and effective.invalid is None:
        return  # this Ingress's locations carry the annotation's value instead
    yield ctx.finding(
        "config-proxy-read-timeout-invalid",
        Severity.WARNING,
        f"ConfigMap {config[0]} has {name}: {effective.config_rejected!r}, which F5 NGINX "
        "writes unchecked into every location without the annotation, and nginx does not "
        "read as a time (units w d h m s ms in that order, no y or M, no space: the line is "
        "unquoted): `nginx -t` fails, so "
        "no configuration change loads until it is fixed",
        f'set {name}: "{_wanted(ctx)}" in ConfigMap {config[0]}',
        (_config_change(ctx, name, _wanted(ctx)),),
    )


def send_timeout(ctx: Context) -> Iterator[Finding]:
    """Said only when someone set it: the default needs no word."""
    if SEND_TIMEOUT not in ctx.annotations:
        return
    effective = _timeout(ctx, SEND_TIMEOUT)
    if effective.invalid is not None:
        yield _invalid(ctx, SEND_TIMEOUT, effective, Severity.INFO)
    elif effective.seconds < ctx.settings.min_timeout_seconds:
        yield ctx.finding(
            "proxy-send-timeout",
            Severity.INFO,
            f"{effective.origin}: this does not cut idle WebSockets; NGINX arms it on an upgraded "
            "connection only while a write to the backend is blocked. Only "
            f"{READ_TIMEOUT} cuts an idle WebSocket",
            f"nothing to do for idle connections; {READ_TIMEOUT} is the one to raise",
        )


def _nested(match: re.Match[str]) -> bool:
    """Whether the match is inside a block of the snippet (e.g. a location of its own)."""
    before = match.string[: match.start()]
    return before.count("{") > before.count("}")


def _headers(snippet: str) -> tuple[list[tuple[str, str]], str]:
    """The snippet's own Upgrade/Connection proxy_set_header lines, and it without them."""
    found = [(m.group(1), m.group(2).strip()) for m in _HEADER.finditer(snippet) if not _nested(m)]
    rest = _HEADER.sub(lambda m: m.group(0) if _nested(m) else "", snippet).strip()
    return found, rest


def _location_directives(ctx: Context) -> set[str]:
    """The directives the template writes in this Ingress's proxy locations."""
    config = _config(ctx)
    data = config[1] if config is not None else {}
    return set(LOCATION_DIRECTIVES) | {
        directive
        for directive, name in LOCATION_DIRECTIVES_WHEN_SET.items()
        if f"{PREFIX}{name}" in ctx.annotations or name in data
    }


def _moves(ctx: Context, snippet: str, directives: set[str]) -> tuple[str, list[Change], list[str]]:
    """The snippet without `directives`, the annotations that set them instead (unless
    already on the Ingress; a read timeout at least the minimum), and the directives found."""
    changes: list[Change] = []
    found: list[str] = []

    def strip(match: re.Match[str]) -> str:
        directive, value = match.group(1), match.group(2).strip()
        if directive not in directives or _nested(match):
            return match.group(0)
        found.append(f"{directive} {value}")
        name = LOCATION_DIRECTIVES.get(directive) or LOCATION_DIRECTIVES_WHEN_SET.get(directive)
        key = f"{PREFIX}{name}"
        if name is None or key in ctx.annotations or any(c.path[-1] == key for c in changes):
            return ""
        if directive.endswith("_timeout"):
            seconds = parse_time(value)
            if seconds is None:
                return ""
            if directive == "proxy_read_timeout" and seconds < ctx.settings.min_timeout_seconds:
                value = _wanted(ctx)
        elif directive == "proxy_buffering":
            value = "true" if value == "on" else "false"
        changes.append(set_annotation(key, value))
        return ""

    rest = _DIRECTIVE.sub(strip, snippet).strip()
    return rest, changes, found


def _proxy_locations(ctx: Context) -> bool:
    """Whether a path goes to a Service F5 NGINX proxies (not one of nginx.org/grpc-services,
    whose locations get grpc_* directives instead)."""
    grpc = split_list(ctx.annotations.get(GRPC_SERVICES))
    return any(b.service not in grpc for b in ctx.ingress.backends)


def snippets(ctx: Context) -> Iterator[Finding]:
    keys = [key for key in (LOCATION_SNIPPETS, SERVER_SNIPPETS) if key in ctx.annotations]
    if not keys:
        return
    location = ctx.annotations.get(LOCATION_SNIPPETS, "")
    rest, moves, duplicated = _moves(ctx, location, _location_directives(ctx))
    if duplicated and _proxy_locations(ctx):
        yield ctx.finding(
            "snippet-duplicate-directive",
            Severity.ERROR,
            f"{LOCATION_SNIPPETS} has {'; '.join(duplicated)}, which the F5 NGINX template "
            'already writes in every proxy location: `nginx -t` fails with "directive is '
            'duplicate", the reload fails and the Ingress gets an AddedOrUpdatedWithError '
            "event; NGINX keeps its last valid configuration and, until the snippet is fixed, "
            "no configuration change (of any Ingress) loads",
            f"remove {', '.join(d.split()[0] for d in duplicated)} from {LOCATION_SNIPPETS} "
            "and use the annotations (nginx.org/proxy-read-timeout, ...) instead",
            (set_annotation(LOCATION_SNIPPETS, rest or None), *moves),
        )
    websocket = split_list(ctx.annotations.get(WEBSOCKET_SERVICES))
    headers, without_headers = _headers(rest)  # applied after the duplicates' fix
    for header, value in headers if websocket else []:
        yield ctx.finding(
            "snippet-header-added",
            Severity.INFO,
            f"{LOCATION_SNIPPETS} sets {header} to {value}: the template already sends "
            "`Upgrade $http_upgrade` and `Connection $connection_upgrade` for the Services in "
            f"{WEBSOCKET_SERVICES}, so nginx sends a second {header} header (it does not "
            "override the template's)",
            f"remove the {header} line from {LOCATION_SNIPPETS}",
            (set_annotation(LOCATION_SNIPPETS, without_headers or None),),
        )
    server = ctx.annotations.get(SERVER_SNIPPETS, "")
    server_rest, server_moves, shadowed = _moves(ctx, server, set(LOCATION_DIRECTIVES))
    server_headers, server_rest = _headers(server_rest)
    shadowed += [f"proxy_set_header {h} {v}" for h, v in server_headers]
    if shadowed:
        yield ctx.finding(
            "server-snippet-shadowed",
            Severity.INFO,
            f"{SERVER_SNIPPETS} has {'; '.join(shadowed)} at server level, which no location "
            "inherits: every proxy location sets its own (the read timeout from "
            f"{READ_TIMEOUT}, 60 s by default), so these lines do nothing",
            f"remove them from {SERVER_SNIPPETS} and use the annotations instead",
            (
                set_annotation(SERVER_SNIPPETS, server_rest or None),
                *(m for m in server_moves if m.path not in {c.path for c in moves}),
            ),
        )
    yield ctx.finding(
        "snippets-disabled",
        Severity.INFO,
        f"{', '.join(keys)}: F5 NGINX reads snippets only when the controller runs with "
        "-enable-snippets (off by default; chart value controller.enableSnippets); without it "
        'the whole Ingress is rejected ("snippet specified but snippets feature is not '
        'enabled") and none of its paths are served',
        "check the controller's arguments for -enable-snippets=true, or remove the snippets "
        "and use annotations for what they set",
    )


def legacy_ssl_redirect(ctx: Context) -> Iterator[Finding]:
    value = ctx.annotations.get(LEGACY_SSL_REDIRECT)
    if value is None:
        return
    if SSL_REDIRECT in ctx.annotations:
        if go_bool(value) != go_bool(ctx.annotations[SSL_REDIRECT]):
            yield ctx.finding(
                "legacy-ssl-redirect",
                Severity.WARNING,
                f"{LEGACY_SSL_REDIRECT} is {value!r} but {SSL_REDIRECT} is "
                f"{ctx.annotations[SSL_REDIRECT]!r}: F5 NGINX reads only {SSL_REDIRECT} "
                "then, so the deprecated key is ignored",
                f"remove {LEGACY_SSL_REDIRECT}",
                (set_annotation(LEGACY_SSL_REDIRECT, None),),
            )
        return
    yield ctx.finding(
        "legacy-ssl-redirect",
        Severity.INFO,
        f"{LEGACY_SSL_REDIRECT} is deprecated in F5 NGINX; {SSL_REDIRECT} is the key (and "
        "wins when both are set)",
        f"rename it to {SSL_REDIRECT}",
        (set_annotation(LEGACY_SSL_REDIRECT, None), set_annotation(SSL_REDIRECT, value)),
    )


def limits(ctx: Context) -> Iterator[Limit]:
    effective = _timeout(ctx, READ_TIMEOUT)
    yield Limit(
        "idle", effective.seconds, Hop.CONTROLLER, f"proxy_read_timeout: {effective.origin}"
    )
    yield Limit("lifetime", None, Hop.CONTROLLER, "none")


CONTROLLER = Controller(
    id="nginx-inc",
    title="F5 NGINX Ingress Controller",
    docs="https://docs.nginx.com/nginx-ingress-controller/configuration/ingress-resources/advanced-configuration-with-annotations/",
    ingress_class_controllers=("nginx.org/ingress-controller",),
    class_names=("nginx",),
    annotation_prefixes=(PREFIX, "nginx.com/"),
    rules=(
        websocket_services,
        read_timeout,
        config_read_timeout,
        send_timeout,
        snippets,
        redirect_disabled_rule(SSL_REDIRECT, LEGACY_SSL_REDIRECT),
        legacy_ssl_redirect,
    ),
    known_mistakes={
        f"{PREFIX}websocket": f"use {WEBSOCKET_SERVICES} with the backend Service names",
    },
    limits=limits,
    config_map_names=CONFIG_MAP_NAMES,
    annotation_names=ANNOTATION_NAMES,
)

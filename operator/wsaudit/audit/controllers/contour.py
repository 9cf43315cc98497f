"""Contour (Envoy). WebSocket is opt-in per route: the paths must be listed in
projectcontour.io/websocket-routes, or Envoy refuses the upgrade; and Envoy's stream idle
timeout (5 min unless Contour's configuration sets timeouts.stream-idle-timeout) cuts a quiet
WebSocket.

What its code does (projectcontour/contour@31c4bb38e0a52cef4d8273dd5641a70e39f1d693):
- internal/annotation/annotations.go:164-175 and internal/dag/ingress_processor.go:294:
  only `projectcontour.io/websocket-routes` enables WebSockets, per exact path. The
  `contour.heptio.com/` annotations were removed in 58359eb5 (#3155, 2020-12-01).
- pkg/config/parameters.go:277-284 `timeouts.stream-idle-timeout`, parsed as a Go duration
  or "infinity" (internal/timeout/timeout.go:71-97); unset, Envoy's default applies
  (internal/envoy/route.go:43-56): 5 min, which HTTPProxy's own docs restate
  (apis/projectcontour/v1/httpproxy.go:1236-1238).

Docs: https://projectcontour.io/docs/main/config/annotations/ and
https://projectcontour.io/docs/main/configuration/#timeout-configuration
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import yaml

from ..controller import Context, Controller, split_list
from ..durations import human
from ..model import Change, Finding, Hop, Limit, Severity, set_annotation

PREFIX = "projectcontour.io/"
LEGACY_PREFIX = "contour.heptio.com/"
ROUTES = f"{PREFIX}websocket-routes"
LEGACY_ROUTES = f"{LEGACY_PREFIX}websocket-routes"
CONFIG_MAP_NAMES = ("contour",)  # examples/contour/01-contour-config.yaml
CONFIG_KEY = "contour.yaml"
STREAM_IDLE = "stream-idle-timeout"
MAX_DURATION = "max-connection-duration"
ENVOY_STREAM_IDLE_DEFAULT = 300.0

# internal/annotation/annotations.go:51-76: what Contour reads on an Ingress and a Service.
ANNOTATION_NAMES = frozenset(
    [
        "ingress.class",
        "num-retries",
        "response-timeout",
        "retry-on",
        "tls-minimum-protocol-version",
        "tls-maximum-protocol-version",
        "tls-cert-namespace",
        "websocket-routes",
        "max-connections",
        "max-pending-requests",
        "max-requests",
        "max-retries",
        "per-host-max-connections",
        "upstream-protocol.h2",
        "upstream-protocol.h2c",
        "upstream-protocol.tls",
    ]
)

_GO_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


class _Invalid(ValueError):
    pass


def go_duration(text: str) -> float:
    """Seconds of a Go duration (time.ParseDuration), or _Invalid."""
    if text in ("0",):
        return 0.0
    position, total = 0, 0.0
    for match in _GO_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _GO_UNIT[match.group(2)]
        position = match.end()
    if position == 0 or position != len(text):
        raise _Invalid(text)
    return total


def _timeouts(ctx: Context) -> tuple[str | None, dict[str, Any], Mapping[str, Any]]:
    """(ConfigMap ref, the parsed contour.yaml, its timeouts section)."""
    found = ctx.controller_config()
    if found is None:
        return None, {}, {}
    ref, data = found
    try:
        parsed = yaml.safe_load(data.get(CONFIG_KEY) or "") or {}
    except yaml.YAMLError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    timeouts = parsed.get("timeouts")
    return ref, parsed, timeouts if isinstance(timeouts, dict) else {}


def _setting(
    ref: str | None, timeouts: Mapping[str, Any], key: str, default: float | None
) -> tuple[float | None, str, str | None]:
    """(seconds or None for none, what sets it, the raw value when invalid)."""
    where = f"ConfigMap {ref} {CONFIG_KEY}" if ref else "Contour's configuration (not visible)"
    raw = timeouts.get(key)
    shown = "Envoy's default " + (human(default) if default else "(none)")
    if raw is None or str(raw) == "":
        return default, f"timeouts.{key} not set in {where}: {shown}", None
    text = str(raw)
    if text in ("infinity", "infinite"):
        return None, f"timeouts.{key}: {text} in {where}", None
    try:
        seconds = go_duration(text)
    except _Invalid:
        return default, f"timeouts.{key}: {text!r} in {where} is invalid", text
    if seconds == 0:
        return default, f"timeouts.{key}: {text!r} in {where} (0: {shown})", None
    return seconds, f"timeouts.{key}: {text!r} in {where}", None


def _config_change(ctx: Context, parsed: dict[str, Any], value: str) -> Change:
    merged = dict(parsed)
    timeouts = (
        dict(merged.get("timeouts") or {}) if isinstance(merged.get("timeouts"), dict) else {}
    )
    timeouts[STREAM_IDLE] = value
    merged["timeouts"] = timeouts
    return ctx.config_map_change(CONFIG_KEY, yaml.safe_dump(merged, sort_keys=False))


def websocket_routes(ctx: Context) -> Iterator[Finding]:
    if LEGACY_ROUTES in ctx.annotations:
        return  # legacy_annotations names what to write instead
    listed = split_list(ctx.annotations.get(ROUTES))
    paths = sorted({b.path for b in ctx.ingress.websocket_backends()})
    missing = [path for path in paths if path not in listed]
    if missing:
        value = ",".join(sorted(listed | set(missing)))
        yield ctx.finding(
            "websocket-routes",
            Severity.ERROR,
            f"path {', '.join(missing)} is not in {ROUTES}: Envoy does not upgrade it, so "
            "the WebSocket handshake fails",
            f'set {ROUTES}: "{value}" on the Ingress',
            (set_annotation(ROUTES, value),),
        )


def legacy_annotations(ctx: Context) -> Iterator[Finding]:
    """contour.heptio.com/* annotations: removed from Contour in 1.11 (#3155)."""
    for key in sorted(k for k in ctx.annotations if k.startswith(LEGACY_PREFIX)):
        name = key.removeprefix(LEGACY_PREFIX)
        if key == LEGACY_ROUTES:
            paths = {b.path for b in ctx.ingress.websocket_backends()}
            routes = split_list(ctx.annotations.get(ROUTES)) | split_list(ctx.annotations[key])
            value = ",".join(sorted(routes | paths))
            yield ctx.finding(
                "heptio-annotation",
                Severity.ERROR,
                f"{key} was removed from Contour in 2020 (projectcontour/contour#3155): it "
                f"does nothing, so without {ROUTES} Envoy does not upgrade these paths and "
                "the WebSocket handshake fails",
                f'replace it with {ROUTES}: "{value}"',
                (set_annotation(key, None), set_annotation(ROUTES, value)),
            )
            continue
        right = f"{PREFIX}{name}"
        replace = name in ANNOTATION_NAMES and right not in ctx.annotations
        yield ctx.finding(
            "heptio-annotation",
            Severity.WARNING,
            f"{key} was removed from Contour in 2020 (projectcontour/contour#3155): it does "
            "nothing",
            f"rename it to {right}" if replace else f"remove it (Contour reads {right})",
            (
                set_annotation(key, None),
                *([set_annotation(right, ctx.annotations[key])] if replace else []),
            ),
        )


def stream_idle_timeout(ctx: Context) -> Iterator[Finding]:
    wanted = ctx.settings.min_timeout_seconds
    ref, parsed, timeouts = _timeouts(ctx)
    seconds, setting, invalid = _setting(ref, timeouts, STREAM_IDLE, ENVOY_STREAM_IDLE_DEFAULT)
    value = f"{wanted:g}s"
    where = f"ConfigMap {ref} ({CONFIG_KEY})" if ref else f"Contour's ConfigMap ({CONFIG_KEY})"
    fix = (
        f'set timeouts.{STREAM_IDLE}: "{value}" in {where} (or spec.envoy.timeouts.'
        "streamIdleTimeout in a ContourConfiguration; an HTTPProxy route can set "
        "timeoutPolicy.idle instead)"
    )
    if invalid is not None:
        yield ctx.finding(
            f"{STREAM_IDLE}-invalid",
            Severity.ERROR,
            f'{setting}: not a Go duration nor "infinity", so Contour refuses its configuration',
            fix,
            (_config_change(ctx, parsed, value),),
        )
    elif seconds is not None and seconds < wanted:
        yield ctx.finding(
            STREAM_IDLE,
            Severity.WARNING,
            f"{setting}: Envoy's stream idle timeout covers an upgraded WebSocket too, so one "
            f"quiet for {human(seconds)} is closed, under the {human(wanted)} wsaudit expects",
            fix,
            (_config_change(ctx, parsed, value),),
        )


def limits(ctx: Context) -> Iterable[Limit]:
    ref, _, timeouts = _timeouts(ctx)
    idle, idle_setting, _ = _setting(ref, timeouts, STREAM_IDLE, ENVOY_STREAM_IDLE_DEFAULT)
    life, life_setting, _ = _setting(ref, timeouts, MAX_DURATION, None)
    return [
        Limit("idle", idle, Hop.CONTROLLER, f"Envoy stream idle timeout: {idle_setting}"),
        Limit("lifetime", life, Hop.CONTROLLER, f"Envoy max connection duration: {life_setting}"),
    ]


CONTROLLER = Controller(
    id="contour",
    title="Contour",
    docs="https://projectcontour.io/docs/main/config/annotations/",
    # Contour filters Ingresses by class name only and never reads an IngressClass's
    # spec.controller (site/content/docs/main/config/ingress.md@31c4bb38e); both values
    # are used for its IngressClasses.
    ingress_class_controllers=("projectcontour.io/ingress-controller", "projectcontour.io/contour"),
    class_names=("contour",),
    annotation_prefixes=(PREFIX, LEGACY_PREFIX),
    rules=(websocket_routes, legacy_annotations, stream_idle_timeout),
    limits=limits,
    config_map_names=CONFIG_MAP_NAMES,
    # Its one ingress.kubernetes.io/ key (force-ssl-redirect, annotations.go:52) is read
    # under that prefix only, so no alias prefix.
    annotation_names=ANNOTATION_NAMES,
)

"""Kong Ingress Controller. Proxy timeouts are annotations on the backend **Service**
(konghq.com/read-timeout, konghq.com/write-timeout, in milliseconds, default 60000), not on
the Ingress: KIC applies them in Service.override() from the Kubernetes Service's
annotations (internal/dataplane/kongstate/service.go), with strconv.Atoi (anything else is
silently ignored).

Kong sets them as the nginx upstream's read and send timeouts, so as with nginx the read
timeout is what cuts an idle WebSocket; the write (send) timeout only applies while a write
to the backend is blocked.

Docs: https://docs.konghq.com/kubernetes-ingress-controller/latest/reference/annotations/
"""

from __future__ import annotations

from collections.abc import Iterator

from ..controller import (
    Context,
    Controller,
    missing_objects,
    redirect_required_rule,
    services_of_websocket_paths,
    unseen_services,
)
from ..durations import DurationError, Format, human, parse_duration
from ..load_balancers import affinity_message, long_polling_services
from ..model import Change, Finding, Hop, Limit, Severity, set_annotation

PREFIX = "konghq.com/"
READ_TIMEOUT = f"{PREFIX}read-timeout"
WRITE_TIMEOUT = f"{PREFIX}write-timeout"
TIMEOUT_KEYS = (READ_TIMEOUT, WRITE_TIMEOUT)
REDIRECT_CODE = f"{PREFIX}https-redirect-status-code"
PROTOCOLS = f"{PREFIX}protocols"
DEFAULT_MS = 60000  # internal/dataplane/translator/subtranslator/subtranslator_vars.go

# internal/annotations/annotations.go: the keys KIC reads under konghq.com/.
ANNOTATION_NAMES = frozenset(
    {
        "override",
        "plugins",
        "protocol",
        "protocols",
        "client-cert",
        "strip-path",
        "path",
        "https-redirect-status-code",
        "preserve-host",
        "regex-priority",
        "host-header",
        "methods",
        "snis",
        "request-buffering",
        "response-buffering",
        "host-aliases",
        "regex-prefix",
        "connect-timeout",
        "write-timeout",
        "read-timeout",
        "retries",
        "headers",
        "headers-separator",
        "path-handling",
        "tags",
        "rewrite",
        "tls-verify",
        "tls-verify-depth",
        "ca-certificates-secrets",
        "ca-certificates-configmaps",
    }
)


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}"


def _service_timeout(annotations: dict[str, str], key: str) -> tuple[float, str | None]:
    """Seconds on the Service (KIC's strconv.Atoi), and the raw value when it is ignored."""
    raw = annotations.get(key)
    if raw is None:
        return DEFAULT_MS / 1000, None
    try:
        return parse_duration(raw, Format.MILLISECONDS), None
    except DurationError:
        return DEFAULT_MS / 1000, raw


def _on_service(key: str, value: str | None, service: str) -> Change:
    return set_annotation(key, value, kind="Service", name=service)


def service_timeouts(ctx: Context) -> Iterator[Finding]:
    unseen: list[str] = []
    wanted = ctx.settings.min_timeout_seconds
    for service in services_of_websocket_paths(ctx.ingress):
        annotations = ctx.related.service_annotations(ctx.ingress.namespace, service)
        if annotations is None:
            unseen.append(service)
            continue
        where = f"on Service {service}"
        read, invalid = _service_timeout(annotations, READ_TIMEOUT)
        if invalid is not None:
            yield ctx.finding(
                "read-timeout-invalid",
                Severity.WARNING,
                f"{READ_TIMEOUT} is {invalid!r} {where}, not {Format.MILLISECONDS.value}: "
                "KIC ignores it and Kong uses its default 60000 ms",
                f'set {READ_TIMEOUT}: "{_ms(wanted)}" {where}',
                (_on_service(READ_TIMEOUT, _ms(wanted), service),),
            )
        elif read < wanted:
            stated = (
                f"{READ_TIMEOUT} is {annotations[READ_TIMEOUT]!r} {where} ({human(read)})"
                if READ_TIMEOUT in annotations
                else f"{READ_TIMEOUT} is not set {where}, so the default 60000 ms applies"
            )
            yield ctx.finding(
                "read-timeout",
                Severity.WARNING,
                f"{stated}: Kong closes a WebSocket on which the backend sends nothing for "
                f"that long, under the {human(wanted)} wsaudit expects for long-lived "
                "connections (traffic in either direction resets it)",
                f'set {READ_TIMEOUT}: "{_ms(wanted)}" {where}',
                (_on_service(READ_TIMEOUT, _ms(wanted), service),),
            )
        write, invalid = _service_timeout(annotations, WRITE_TIMEOUT)
        if WRITE_TIMEOUT in annotations and invalid is None and write < wanted:
            yield ctx.finding(
                "write-timeout",
                Severity.INFO,
                f"{WRITE_TIMEOUT} {where} is {human(write)}: this does not cut idle "
                "WebSockets; nginx (under Kong) arms it only while a write to the backend is "
                f"blocked. Only {READ_TIMEOUT} cuts an idle WebSocket",
                f"nothing to do for idle connections; {READ_TIMEOUT} is the one to raise",
            )
    if unseen:
        yield ctx.finding(
            "service-timeouts-unknown",
            Severity.INFO,
            missing_objects("Service", unseen, "Kong reads its timeouts from the Service"),
            f"check {READ_TIMEOUT} (milliseconds, default 60000) on those Services",
        )


def timeouts_on_ingress(ctx: Context) -> Iterator[Finding]:
    services = services_of_websocket_paths(ctx.ingress)
    wanted = ctx.settings.min_timeout_seconds
    for key in TIMEOUT_KEYS:
        if key not in ctx.annotations:
            continue
        value = ctx.annotations[key]
        if key == READ_TIMEOUT:
            # Moved, it must not undo the read-timeout fix: at least the minimum.
            try:
                ok = parse_duration(value, Format.MILLISECONDS) >= wanted
            except DurationError:
                ok = False
            value = value if ok else _ms(wanted)
        moves = []
        for service in services:
            on_service = ctx.related.service_annotations(ctx.ingress.namespace, service) or {}
            if key not in on_service:
                moves.append(_on_service(key, value, service))
        yield ctx.finding(
            "timeout-on-ingress",
            Severity.WARNING,
            f"{key} on the Ingress does nothing: KIC reads it from the backend Service "
            f"({', '.join(services) or 'none'}), which keeps its own value or 60000 ms",
            f"move {key} to the annotations of Service {', '.join(services)}",
            (set_annotation(key, None), *moves),
        )


UPSTREAM_POLICY = "konghq.com/upstream-policy"


def sticky_sessions(ctx: Context) -> Iterator[Finding]:
    """Kong balances by a KongUpstreamPolicy named on the Service (internal/annotations/
    annotations.go:362@1fa68f864); `hashOn.cookie` makes it sticky
    (internal/dataplane/kongstate/kongupstreampolicy.go:79,153@1fa68f864)."""
    for service, paths, service_annotations in long_polling_services(ctx):
        if service_annotations is None or service_annotations.get(UPSTREAM_POLICY):
            continue
        policy = f"{service}-sticky"
        yield ctx.finding(
            "sticky-sessions",
            Severity.WARNING,
            affinity_message(paths, service, UPSTREAM_POLICY),
            f"create KongUpstreamPolicy {policy} with spec.algorithm: consistent-hashing and "
            f'spec.hashOn.cookie: session, and set {UPSTREAM_POLICY}: "{policy}" on Service '
            f"{service}",
            (
                Change(
                    "KongUpstreamPolicy",
                    policy,
                    ("spec",),
                    {
                        "algorithm": "consistent-hashing",
                        "hashOn": {"cookie": "session", "cookiePath": "/"},
                    },
                ),
                set_annotation(UPSTREAM_POLICY, policy, "Service", service),
            ),
        )


def limits(ctx: Context) -> Iterator[Limit]:
    for service in services_of_websocket_paths(ctx.ingress):
        annotations = ctx.related.service_annotations(ctx.ingress.namespace, service)
        if annotations is None:
            setting = f"{READ_TIMEOUT} on Service {service} (not visible; 60000 ms default)"
            seconds = DEFAULT_MS / 1000
        else:
            seconds, _ = _service_timeout(annotations, READ_TIMEOUT)
            raw = annotations.get(READ_TIMEOUT)
            shown = f"{raw!r}" if raw is not None else "60000 ms default"
            setting = f"{READ_TIMEOUT} on Service {service} ({shown})"
        yield Limit("idle", seconds, Hop.CONTROLLER, setting)
    yield Limit("lifetime", None, Hop.CONTROLLER, "none")


CONTROLLER = Controller(
    id="kong",
    title="Kong Ingress Controller",
    docs="https://docs.konghq.com/kubernetes-ingress-controller/latest/reference/annotations/",
    ingress_class_controllers=("ingress-controllers.konghq.com/kong",),
    needs=unseen_services,
    class_names=("kong",),
    annotation_prefixes=(PREFIX,),
    rules=(
        service_timeouts,
        timeouts_on_ingress,
        redirect_required_rule(REDIRECT_CODE, "301", also=((PROTOCOLS, "https"),)),
        sticky_sessions,
    ),
    limits=limits,
    annotation_names=ANNOTATION_NAMES,
)

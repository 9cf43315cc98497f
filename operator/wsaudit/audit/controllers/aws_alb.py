"""AWS Load Balancer Controller (ALB). WebSockets pass through an ALB unchanged; its idle
timeout (load balancer attribute idle_timeout.timeout_seconds, default 60 s, 1-4000 s)
closes quiet connections.

Listeners (kubernetes-sigs/aws-load-balancer-controller pkg/ingress/model_build_listener.go):
without `listen-ports`, an Ingress with a certificate ARN gets HTTPS:443 only and one without
gets HTTP:80 only. spec.tls secrets are never served by an ALB: spec.tls hosts (with the rules'
hosts) only drive ACM certificate discovery, and only for HTTPS listeners that have no ARN.
`ssl-redirect` naming a port without an HTTPS listener fails the whole IngressGroup
(pkg/ingress/model_builder.go buildSSLRedirectConfig); so do unparseable listen-ports,
ssl-redirect and load-balancer-attributes, and attribute values AWS rejects.

Docs: https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..controller import Context, Controller
from ..durations import human
from ..load_balancers import long_polling_paths
from ..model import Change, Finding, Hop, Limit, Severity, set_annotation

PREFIX = "alb.ingress.kubernetes.io/"
ATTRIBUTES = f"{PREFIX}load-balancer-attributes"
TG_ATTRIBUTES = f"{PREFIX}target-group-attributes"
LISTEN_PORTS = f"{PREFIX}listen-ports"
CERTIFICATE_ARN = f"{PREFIX}certificate-arn"
CREATE_ACM_CERT = f"{PREFIX}create-acm-cert"
SSL_REDIRECT = f"{PREFIX}ssl-redirect"
IDLE_KEY = "idle_timeout.timeout_seconds"
DEFAULT_IDLE = 60.0
MAX_IDLE = 4000.0
BOTH_LISTENERS = '[{"HTTP": 80}, {"HTTPS": 443}]'
STICKINESS = "stickiness.enabled"


class InvalidAnnotation(ValueError):
    """An annotation value the controller fails to parse: the IngressGroup does not
    reconcile at all."""


@dataclass(frozen=True)
class Listeners:
    """The ALB listeners this Ingress asks for, and where their certificates come from."""

    ports: dict[int, str]  # port -> "HTTP" | "HTTPS"
    certificate: str | None  # "certificate-arn ..." / "ACM discovery ..." / None
    explicit: bool  # listen-ports was set

    @property
    def https(self) -> list[int]:
        return sorted(p for p, proto in self.ports.items() if proto == "HTTPS")

    @property
    def http(self) -> list[int]:
        return sorted(p for p, proto in self.ports.items() if proto == "HTTP")

    def describe(self) -> str:
        return ", ".join(f"{proto}:{port}" for port, proto in sorted(self.ports.items()))


def _certificate_arns(ctx: Context) -> list[str]:
    raw = ctx.annotations.get(CERTIFICATE_ARN, "")
    return [arn.strip() for arn in raw.split(",") if arn.strip()]


def _creates_certificate(ctx: Context) -> bool:
    return ctx.annotations.get(CREATE_ACM_CERT, "").strip().lower() == "true"


def _discovery_hosts(ctx: Context) -> list[str]:
    return sorted(set(ctx.ingress.hosts) | set(ctx.ingress.tls_hosts))


def parse_listen_ports(raw: str) -> dict[int, str]:
    """As computeIngressListenPorts: a JSON list of {"HTTP"|"HTTPS": port}."""
    try:
        entries = json.loads(raw)
    except ValueError:
        raise InvalidAnnotation("it is not JSON") from None
    if not isinstance(entries, list) or not entries:
        raise InvalidAnnotation("it must be a non-empty JSON list such as " + BOTH_LISTENERS)
    ports: dict[int, str] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise InvalidAnnotation(f'{entry!r} is not an object such as {{"HTTPS": 443}}')
        for protocol, port in entry.items():
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                raise InvalidAnnotation(f"listen port must be within [1, 65535]: {port!r}")
            if protocol not in ("HTTP", "HTTPS"):
                raise InvalidAnnotation(f"listen protocol must be HTTP or HTTPS: {protocol!r}")
            ports[port] = protocol
    return ports


def listeners(ctx: Context) -> Listeners:
    """Raises InvalidAnnotation when listen-ports cannot be parsed."""
    arns = _certificate_arns(ctx)
    created = not arns and _creates_certificate(ctx)
    raw = ctx.annotations.get(LISTEN_PORTS)
    if raw is None:
        prefer_tls = bool(arns) or created
        ports = {443: "HTTPS"} if prefer_tls else {80: "HTTP"}
    else:
        ports = parse_listen_ports(raw)
    certificate = None
    if any(proto == "HTTPS" for proto in ports.values()):
        if arns:
            certificate = f"{CERTIFICATE_ARN} {', '.join(arns)}"
        elif created:
            certificate = f"a certificate ACM issues ({CREATE_ACM_CERT})"
        elif hosts := _discovery_hosts(ctx):
            certificate = f"ACM certificates discovered for {', '.join(hosts)}"
    return Listeners(ports, certificate, raw is not None)


def _listeners_or_none(ctx: Context) -> Listeners | None:
    try:
        return listeners(ctx)
    except InvalidAnnotation:
        return None


def tls_terminated(ctx: Context) -> str | None:
    found = _listeners_or_none(ctx)
    if found is None or not found.https or found.certificate is None:
        return None
    ports = ", ".join(f"HTTPS:{p}" for p in found.https)
    return f"the ALB listener {ports} with {found.certificate}"


def _with_https(found: Listeners | None) -> str:
    """listen-ports keeping the existing listeners and adding HTTPS:443 (and HTTP:80 when
    there was no HTTP listener, so that http clients are redirected, not refused)."""
    ports = dict(found.ports) if found is not None else {}
    ports = {p: proto for p, proto in ports.items() if not (p == 443 and proto == "HTTP")}
    ports.setdefault(443, "HTTPS")
    if not any(proto == "HTTP" for proto in ports.values()):
        ports.setdefault(80, "HTTP")
    return json.dumps([{proto: port} for port, proto in sorted(ports.items())])


def listen_ports_rule(ctx: Context) -> Iterator[Finding]:
    """aws-alb.listen-ports-invalid, aws-alb.https-listener-missing,
    aws-alb.certificate-missing."""
    raw = ctx.annotations.get(LISTEN_PORTS)
    try:
        found = listeners(ctx)
    except InvalidAnnotation as exc:
        yield ctx.finding(
            "listen-ports-invalid",
            Severity.ERROR,
            f"{LISTEN_PORTS} is {raw!r}: {exc}. The controller fails to build the "
            "IngressGroup's ALB (every Ingress of the group stops reconciling)",
            f"set {LISTEN_PORTS}: '{BOTH_LISTENERS}' and {SSL_REDIRECT}: \"443\"",
            (set_annotation(LISTEN_PORTS, BOTH_LISTENERS), set_annotation(SSL_REDIRECT, "443")),
        )
        return
    fix_ports = _with_https(found)
    if not found.https:
        if ctx.ingress.tls_entries:
            why = (
                f"spec.tls is set, but an ALB never serves spec.tls secrets: its listeners are "
                f"{found.describe()} ("
                + (
                    f"{LISTEN_PORTS} has no HTTPS"
                    if found.explicit
                    else f"no {LISTEN_PORTS} and no {CERTIFICATE_ARN} means HTTP:80 only"
                )
                + "), so clients can only use ws://"
            )
        else:
            why = (
                f"the ALB listens on {found.describe()} only"
                + ("" if found.explicit else f" (no {LISTEN_PORTS}, no {CERTIFICATE_ARN})")
                + ": clients can only use ws://, which https pages block as mixed content"
            )
        changes = [set_annotation(LISTEN_PORTS, fix_ports)]
        fix = f"set {LISTEN_PORTS}: '{fix_ports}'"
        if ctx.annotations.get(SSL_REDIRECT) is None:
            changes.append(set_annotation(SSL_REDIRECT, "443"))
            fix += f' and {SSL_REDIRECT}: "443"'
        fix += (
            f"; the HTTPS listener gets {CERTIFICATE_ARN} if set, else an ACM certificate "
            "discovered for the hosts (spec.tls hosts and the rules' hosts)"
        )
        yield ctx.finding("https-listener-missing", Severity.ERROR, why, fix, changes)
        return
    if found.certificate is None:
        yield ctx.finding(
            "certificate-missing",
            Severity.ERROR,
            f"the ALB has HTTPS listener {found.https} but no certificate: no "
            f"{CERTIFICATE_ARN}, and no host (in the rules or spec.tls) for ACM discovery. "
            "AWS rejects an HTTPS listener without a certificate",
            f"set {CERTIFICATE_ARN} to the ARN of an ACM certificate for the hosts served",
            (
                Change(
                    "Ingress",
                    "",
                    ("metadata", "annotations", CERTIFICATE_ARN),
                    "arn:aws:acm:REGION:ACCOUNT:certificate/CERTIFICATE-ID",
                    input="the ARN of an ACM certificate covering the hosts this ALB serves",
                ),
            ),
        )


def redirect_rule(ctx: Context) -> Iterator[Finding]:
    """aws-alb.ssl-redirect-invalid (the redirect port has no HTTPS listener, or is not a
    number: the IngressGroup fails) and aws-alb.https-redirect (HTTP and HTTPS listeners,
    no redirect)."""
    found = _listeners_or_none(ctx)
    if found is None:
        return  # listen-ports-invalid says it
    raw = ctx.annotations.get(SSL_REDIRECT)
    if raw is not None:
        try:
            port = int(raw.strip())
        except ValueError:
            port = None
        if port is not None and found.ports.get(port) == "HTTPS":
            return
        https = found.https
        if port is None:
            problem = f"{raw!r} is not a port number"
        elif port in found.ports:
            problem = f"listener protocol non-SSL for SSLRedirect port: {port}"
        else:
            problem = f"listener does not exist for SSLRedirect port: {port}"
        if https:
            changes: tuple[Change, ...] = (set_annotation(SSL_REDIRECT, str(https[0])),)
            fix = f'set {SSL_REDIRECT}: "{https[0]}", the HTTPS listener\'s port'
        else:
            # No HTTPS listener: https-listener-missing adds HTTPS:443 to listen-ports.
            changes = (set_annotation(SSL_REDIRECT, "443"),)
            fix = (
                f"add an HTTPS listener (see aws-alb.https-listener-missing) and keep "
                f'{SSL_REDIRECT}: "443"'
            )
        yield ctx.finding(
            "ssl-redirect-invalid",
            Severity.ERROR,
            f"{SSL_REDIRECT} is {raw!r} but the ALB's listeners are {found.describe()}: the "
            f'controller fails the whole IngressGroup with "{problem}"',
            fix,
            changes,
        )
        return
    if found.http and found.https:
        yield ctx.finding(
            "https-redirect",
            Severity.WARNING,
            f"the ALB listens on {found.describe()} without {SSL_REDIRECT}: pages stay "
            "reachable over plain http, where browsers open ws:// or block wss:// as mixed "
            "content",
            f'set {SSL_REDIRECT}: "{found.https[0]}" on the Ingress',
            (set_annotation(SSL_REDIRECT, str(found.https[0])),),
        )


def _attributes(raw: str) -> dict[str, str]:
    """As ParseStringMapAnnotation: comma-separated key=value; raises on a bad pair."""
    attributes: dict[str, str] = {}
    for pair in raw.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidAnnotation(f"{pair.strip()!r} is not key=value")
        attributes[key.strip()] = value.strip()
    return attributes


def _wanted_idle(ctx: Context) -> int:
    return int(min(ctx.settings.min_timeout_seconds, MAX_IDLE))


def _idle_seconds(ctx: Context) -> float | None:
    """The ALB idle timeout, or None when the configuration is rejected."""
    raw = ctx.annotations.get(ATTRIBUTES)
    try:
        attributes = _attributes(raw) if raw is not None else {}
    except InvalidAnnotation:
        return None
    value = attributes.get(IDLE_KEY)
    if value is None:
        return DEFAULT_IDLE
    try:
        seconds = int(value)
    except ValueError:
        return None
    return float(seconds) if 1 <= seconds <= MAX_IDLE else None


def idle_timeout(ctx: Context) -> Iterator[Finding]:
    raw = ctx.annotations.get(ATTRIBUTES)
    wanted = _wanted_idle(ctx)
    try:
        attributes = _attributes(raw) if raw is not None else {}
    except InvalidAnnotation as exc:
        kept = {}
        for pair in (raw or "").split(","):
            key, sep, value = pair.partition("=")
            if sep and key.strip() and key.strip() != IDLE_KEY:
                kept[key.strip()] = value.strip()
        value = ",".join([*(f"{k}={v}" for k, v in kept.items()), f"{IDLE_KEY}={wanted}"])
        yield ctx.finding(
            "load-balancer-attributes-invalid",
            Severity.ERROR,
            f"{ATTRIBUTES} is {raw!r}: {exc}; the controller fails to parse it and the "
            "IngressGroup does not reconcile",
            f'set {ATTRIBUTES}: "{value}"',
            (set_annotation(ATTRIBUTES, value),),
        )
        return
    kept_pairs = [f"{k}={v}" for k, v in attributes.items() if k != IDLE_KEY]
    value = ",".join([*kept_pairs, f"{IDLE_KEY}={wanted}"])
    fix = f'set {ATTRIBUTES}: "{value}" (every Ingress of an IngressGroup shares one ALB)'
    changes = (set_annotation(ATTRIBUTES, value),)
    current = attributes.get(IDLE_KEY)
    if current is None:
        seconds = DEFAULT_IDLE
        stated = f"{IDLE_KEY} is not set inside {ATTRIBUTES}, so the default 60 s applies"
    else:
        try:
            seconds = float(int(current))
        except ValueError:
            seconds = -1.0
        if not 1 <= seconds <= MAX_IDLE:
            yield ctx.finding(
                "idle-timeout-invalid",
                Severity.ERROR,
                f"{IDLE_KEY}={current} inside {ATTRIBUTES}: AWS accepts a whole number of "
                f"seconds from 1 to {MAX_IDLE:g}. The value is not ignored: AWS rejects "
                "ModifyLoadBalancerAttributes and the IngressGroup fails to reconcile",
                fix,
                changes,
            )
            return
        stated = f"{IDLE_KEY} is {current} inside {ATTRIBUTES} ({human(seconds)})"
    if seconds >= wanted:
        return
    yield ctx.finding(
        "idle-timeout",
        Severity.WARNING,
        f"{stated}: the ALB closes connections idle for longer, under the {human(wanted)} "
        "wsaudit expects for long-lived connections",
        fix,
        changes,
    )


def stickiness(ctx: Context) -> Iterator[Finding]:
    """Socket.IO, SockJS and SignalR fall back to long-polling (and SignalR negotiates
    first): without target-group stickiness those requests reach different pods."""
    paths = long_polling_paths(ctx.ingress)
    if not paths:
        return
    raw = ctx.annotations.get(TG_ATTRIBUTES)
    try:
        attributes = _attributes(raw) if raw is not None else {}
    except InvalidAnnotation:
        attributes = {}
    if attributes.get(STICKINESS, "").lower() == "true":
        return
    attributes[STICKINESS] = "true"
    attributes.setdefault("stickiness.type", "lb_cookie")
    attributes.setdefault("stickiness.lb_cookie.duration_seconds", "86400")
    value = ",".join(f"{k}={v}" for k, v in attributes.items())
    yield ctx.finding(
        "stickiness",
        Severity.WARNING,
        f"path {', '.join(paths)} looks like Socket.IO, SockJS or SignalR, whose HTTP "
        f"long-polling fallback and handshake requests must reach the same pod, but "
        f"{TG_ATTRIBUTES} does not enable {STICKINESS}: with several pods they fail "
        '(e.g. Socket.IO "Session ID unknown")',
        f'set {TG_ATTRIBUTES}: "{value}"',
        (set_annotation(TG_ATTRIBUTES, value),),
    )


def limits(ctx: Context) -> Iterable[Limit]:
    seconds = _idle_seconds(ctx)
    return [
        Limit(
            "idle",
            seconds,
            Hop.LOAD_BALANCER,
            f"{IDLE_KEY} in {ATTRIBUTES} ({human(DEFAULT_IDLE)} default)",
        ),
        Limit("lifetime", None, Hop.LOAD_BALANCER, "an ALB sets no WebSocket lifetime"),
    ]


# Annotation names (pkg/annotations/constants.go) that mean the same thing elsewhere; names
# whose values differ between controllers (ssl-redirect is a port here, a boolean for
# ingress-nginx; backend-protocol) are left out so that wrong-prefix never proposes them.
ANNOTATION_NAMES = frozenset(
    {
        "load-balancer-name",
        "group.name",
        "group.order",
        "tags",
        "ip-address-type",
        "scheme",
        "subnets",
        "load-balancer-attributes",
        "wafv2-acl-arn",
        "security-groups",
        "listen-ports",
        "inbound-cidrs",
        "certificate-arn",
        "ssl-policy",
        "target-type",
        "backend-protocol-version",
        "target-group-attributes",
        "healthcheck-port",
        "healthcheck-protocol",
        "healthcheck-path",
        "healthcheck-interval-seconds",
        "healthcheck-timeout-seconds",
        "healthy-threshold-count",
        "unhealthy-threshold-count",
        "success-codes",
        "auth-type",
        "listener-attributes",
        "create-acm-cert",
    }
)

CONTROLLER = Controller(
    id="aws-alb",
    title="AWS Load Balancer Controller",
    docs="https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/",
    ingress_class_controllers=("ingress.k8s.aws/alb",),
    class_names=("alb",),
    annotation_prefixes=(PREFIX,),
    rules=(idle_timeout, listen_ports_rule, redirect_rule, stickiness),
    known_mistakes={
        f"{PREFIX}connection-idle-timeout": f"the idle timeout is set with {ATTRIBUTES}: "
        f'"{IDLE_KEY}=3600"',
        f"{PREFIX}idle-timeout": f'the idle timeout is set with {ATTRIBUTES}: "{IDLE_KEY}=3600"',
        # camelCase spellings (seen after upgrades): the controller reads kebab-case only.
        **{
            f"{PREFIX}{camel}": f"the annotation is {PREFIX}{kebab}"
            for camel, kebab in (
                ("listenPorts", "listen-ports"),
                ("loadBalancerAttributes", "load-balancer-attributes"),
                ("targetGroupAttributes", "target-group-attributes"),
                ("sslPolicy", "ssl-policy"),
                ("sslRedirect", "ssl-redirect"),
                ("targetType", "target-type"),
                ("certificateArn", "certificate-arn"),
                ("healthcheckPath", "healthcheck-path"),
            )
        },
    },
    limits=limits,
    tls_terminated=tls_terminated,
    annotation_names=ANNOTATION_NAMES,
    is_load_balancer=True,
)

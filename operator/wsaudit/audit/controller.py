"""The shape of an ingress controller's rule set, and helpers its rules share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .durations import DurationError, Format, human, parse_duration
from .model import (
    AuditSettings,
    Change,
    Finding,
    IngressView,
    Limit,
    ObjectRef,
    Related,
    Severity,
    set_annotation,
)


@dataclass(frozen=True)
class Context:
    ingress: IngressView
    related: Related
    settings: AuditSettings
    controller_id: str
    # Names of the controller's own ConfigMap (cluster-level settings), if it has one.
    config_map_names: tuple[str, ...] = ()

    def finding(
        self,
        rule: str,
        severity: Severity,
        message: str,
        fix: str,
        changes: Iterable[Change] = (),
    ) -> Finding:
        return Finding(
            f"{self.controller_id}.{rule}",
            severity,
            self.ingress.ref,
            message,
            fix,
            tuple(changes),
        )

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.ingress.annotations

    def controller_config(self) -> tuple[str, Mapping[str, str]] | None:
        """The controller's ConfigMap, as `namespace/name` and its data, when given (to
        `wsaudit lint` as input, to the operator with --controller-config)."""
        for (namespace, name), config_map in sorted(self.related.config_maps.items()):
            if name in self.config_map_names:
                data = config_map.get("data")
                values = data if isinstance(data, dict) else {}
                return f"{namespace}/{name}", {str(k): str(v) for k, v in values.items()}
        return None

    def config_map_change(self, key: str, value: str) -> Change:
        """An edit of the controller's ConfigMap data: the one given (in its namespace), or
        one of its chart's default name."""
        found = self.controller_config()
        if found is not None:
            namespace, name = found[0].split("/", 1)
            return Change("ConfigMap", name, ("data", key), value, namespace)
        return Change("ConfigMap", self.config_map_names[0], ("data", key), value)


Rule = Callable[[Context], Iterable[Finding]]


@dataclass(frozen=True)
class Controller:
    """One ingress controller: how to recognise it and the rules that apply to it."""

    id: str
    title: str
    docs: str
    ingress_class_controllers: tuple[str, ...]
    class_names: tuple[str, ...]
    annotation_prefixes: tuple[str, ...]
    rules: tuple[Rule, ...]
    # Annotations that configure TLS without spec.tls (e.g. an ALB certificate ARN).
    tls_annotations: tuple[str, ...] = ()
    # Annotation keys people write that this controller does not read, with what to use.
    known_mistakes: Mapping[str, str] = field(default_factory=dict)
    # Objects beside the Ingress its rules read (given what is already known), so that the
    # operator can fetch them; `wsaudit lint` gets them from its input instead.
    needs: Callable[[IngressView, Related], list[ObjectRef]] | None = None
    # The idle and lifetime limits this controller (and what it drives: a cloud load
    # balancer, the backend settings it owns) puts on a WebSocket of this Ingress.
    limits: Callable[[Context], Iterable[Limit]] | None = None
    # Where TLS is terminated for this Ingress without spec.tls (a cloud certificate, a
    # default certificate, a cert resolver), or None: then spec.tls decides.
    tls_terminated: Callable[[Context], str | None] | None = None
    # Names of its ConfigMap of cluster-level settings (matched by name in lint's input;
    # the operator reads the one named by --controller-config).
    config_map_names: tuple[str, ...] = ()
    # Other prefixes under which it reads its own annotations (e.g. ingress.kubernetes.io/).
    alias_prefixes: tuple[str, ...] = ()
    # The annotation names it reads (without prefix): a known name under a prefix it does
    # not read is a wrong-prefix mistake.
    annotation_names: frozenset[str] = frozenset()
    # A cloud L7 load balancer itself (ALB, GKE, AGIC), rather than a proxy in the cluster
    # behind a LoadBalancer Service whose idle timeout is one more hop.
    is_load_balancer: bool = False


@dataclass(frozen=True)
class Timeout:
    """A timeout read from annotations (or a Service's) with its documented default."""

    rule: str
    key: str
    fmt: Format
    default_seconds: float
    where: str = "on the Ingress"
    fix_format: Callable[[float], str] = lambda seconds: f"{seconds:g}"
    maximum: float | None = None
    meaning: str = "idle WebSocket connections are cut after it"


def wanted_seconds(ctx: Context, timeout: Timeout) -> float:
    wanted = ctx.settings.min_timeout_seconds
    return wanted if timeout.maximum is None else min(wanted, timeout.maximum)


def check_timeout(
    ctx: Context,
    timeout: Timeout,
    annotations: Mapping[str, str] | None = None,
    fix: str | None = None,
) -> Finding | None:
    """A finding when the effective timeout is under the configured minimum, or invalid.

    `annotations` are the Ingress's unless given (a Service's, or parsed attributes).
    """
    source = ctx.annotations if annotations is None else annotations
    wanted = wanted_seconds(ctx, timeout)
    fix = fix or f'set {timeout.key}: "{timeout.fix_format(wanted)}" {timeout.where}'
    raw = source.get(timeout.key)
    if raw is None:
        value = timeout.default_seconds
        stated = f"{timeout.key} is not set {timeout.where}, so the default {human(value)} applies"
    else:
        try:
            value = parse_duration(raw, timeout.fmt)
        except DurationError:
            return ctx.finding(
                f"{timeout.rule}-invalid",
                Severity.WARNING,
                f"{timeout.key} is {raw!r} {timeout.where}, which is not {timeout.fmt.value}: "
                f"the controller ignores it and uses its default {human(timeout.default_seconds)}",
                fix,
            )
        stated = f"{timeout.key} is {raw!r} {timeout.where} ({human(value)})"
    if value >= wanted:
        return None
    return ctx.finding(
        timeout.rule,
        Severity.WARNING,
        f"{stated}: {timeout.meaning}, under the {human(wanted)} wsaudit expects for "
        "long-lived connections",
        fix,
    )


def services_of_websocket_paths(ingress: IngressView) -> list[str]:
    return sorted({b.service for b in ingress.websocket_backends() if b.service})


def unseen_services(ingress: IngressView, related: Related) -> list[ObjectRef]:
    """The Services of the WebSocket paths that are not known yet."""
    return [
        ObjectRef("Service", ingress.namespace, name)
        for name in services_of_websocket_paths(ingress)
        if (ingress.namespace, name) not in related.services
    ]


def split_list(value: str | None) -> set[str]:
    return {item.strip() for item in (value or "").split(",") if item.strip()}


def missing_objects(kind: str, names: Iterable[str], where: str) -> str:
    return f"{kind} {', '.join(names)} not visible ({where}); pass it to wsaudit lint with -f"


def timeout_rule(*timeouts: Timeout) -> Rule:
    """A rule checking each timeout annotation on the Ingress."""

    def rule(ctx: Context) -> Iterable[Finding]:
        return [f for t in timeouts if (f := check_timeout(ctx, t)) is not None]

    return rule


_MIXED_CONTENT = (
    "pages stay reachable over plain http, where browsers open ws:// or block wss:// as "
    "mixed content"
)


# Go's strconv.ParseBool, which the Go controllers read boolean annotations with.
_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def go_bool(value: str | None) -> bool | None:
    """A boolean as strconv.ParseBool reads it (None: absent or not a boolean)."""
    return None if value is None else _GO_BOOLS.get(value.strip())


def redirect_disabled_rule(*keys: str) -> Rule:
    """For controllers that redirect to https by default unless told not to. `keys` in the
    controller's precedence: the first one set decides. The fix removes every one of them,
    so that a lower-precedence key cannot take over."""

    def rule(ctx: Context) -> Iterable[Finding]:
        key = next((k for k in keys if k in ctx.annotations), None)
        if key is None or go_bool(ctx.annotations[key]) is not False:
            return []
        return [
            ctx.finding(
                "https-redirect",
                Severity.WARNING,
                f'{key} is "{ctx.annotations[key]}": {_MIXED_CONTENT}',
                f"remove {key} (the redirect is on by default with TLS)",
                tuple(set_annotation(k, None) for k in keys if k in ctx.annotations),
            )
        ]

    return rule


def redirect_required_rule(
    key: str,
    value: str,
    *,
    also: tuple[tuple[str, str], ...] = (),
    satisfied: Callable[[str], bool] = lambda value: bool(value.strip()),
) -> Rule:
    """For controllers that serve http and https side by side unless configured: `key` set
    to a value `satisfied` accepts turns the redirect on; the fix sets it to `value`, and
    the annotations `also` names (e.g. Kong's protocols)."""

    def rule(ctx: Context) -> Iterable[Finding]:
        if satisfied(ctx.annotations.get(key, "")):
            return []
        current = ctx.annotations.get(key)
        stated = f'is "{current}"' if current is not None else "is not set"
        settings = ((key, value), *also)
        return [
            ctx.finding(
                "https-redirect",
                Severity.WARNING,
                f"{key} {stated}: {_MIXED_CONTENT}",
                "set " + " with ".join(f'{k}: "{v}"' for k, v in settings) + " on the Ingress",
                tuple(set_annotation(k, v) for k, v in settings),
            )
        ]

    return rule

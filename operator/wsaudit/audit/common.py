"""Rules for every controller: TLS, and annotations that do nothing where they stand."""

from __future__ import annotations

from collections.abc import Iterator

from .controller import Context, Controller
from .detect import Detection
from .model import Change, Finding, IngressView, Severity, set_annotation
from .registry import CONTROLLERS

GENERIC = "ingress"


def _finding(
    ctx: Context,
    rule: str,
    severity: Severity,
    message: str,
    fix: str,
    *,
    changes: tuple[Change, ...] = (),
) -> Finding:
    return Finding(f"{GENERIC}.{rule}", severity, ctx.ingress.ref, message, fix, changes)


def unknown_controller(ctx: Context, detection: Detection) -> Iterator[Finding]:
    supported = ", ".join(c.id for c in CONTROLLERS)
    yield _finding(
        ctx,
        "unknown-controller",
        Severity.INFO,
        f"cannot tell which ingress controller serves this Ingress ({detection.reason}); "
        "only the generic rules ran",
        f"set spec.ingressClassName (supported controllers: {supported}), or give the "
        "IngressClass to wsaudit lint",
    )


def tls(ctx: Context, controller: Controller | None) -> Iterator[Finding]:
    ingress = ctx.ingress
    if controller and any(key in ingress.annotations for key in controller.tls_annotations):
        return
    if controller and controller.tls_terminated and controller.tls_terminated(ctx):
        return  # terminated elsewhere (a cloud certificate, a default certificate, ...)
    if ingress.tls_without_hosts:
        return  # a tls entry without hosts covers every host with the default certificate
    hosts = sorted({b.host or "*" for b in ingress.websocket_backends()})
    uncovered = [h for h in hosts if h not in ingress.tls_hosts and not _wildcard(h, ingress)]
    if uncovered:
        secret = f"{ingress.name}-tls"
        entries = [*ingress.tls_entries, {"hosts": uncovered, "secretName": secret}]
        yield _finding(
            ctx,
            "tls-missing",
            Severity.ERROR,
            f"host {', '.join(uncovered)} has no spec.tls entry: it is served over plain "
            "http only, so clients can use only ws://, which https pages block as mixed "
            "content and anyone on the path can read",
            f"add spec.tls with hosts [{', '.join(uncovered)}] and a secretName (cert-manager "
            "can issue it)",
            changes=(Change("Ingress", "", ("spec", "tls"), entries),),
        )


def _wildcard(host: str, ingress: IngressView) -> bool:
    parent = host.split(".", 1)[1] if "." in host else ""
    return f"*.{parent}" in ingress.tls_hosts


def foreign_annotations(ctx: Context, controller: Controller) -> Iterator[Finding]:
    for other in CONTROLLERS:
        if other is controller or set(other.annotation_prefixes) & set(
            controller.annotation_prefixes
        ):
            continue
        keys = sorted(
            key
            for key in ctx.annotations
            if any(key.startswith(prefix) for prefix in other.annotation_prefixes)
        )
        if keys:
            yield _finding(
                ctx,
                "foreign-annotation",
                Severity.WARNING,
                f"{', '.join(keys)} {'is' if len(keys) == 1 else 'are'} {other.title}'s, but "
                f"{controller.title} serves this Ingress, so "
                f"{'it does' if len(keys) == 1 else 'they do'} nothing here",
                f"remove {', '.join(keys)} and use {controller.title}'s own settings (see "
                f"{controller.docs})",
                changes=tuple(set_annotation(key, None) for key in keys),
            )


_SHARED_PREFIXES = ("ingress.kubernetes.io/",)


def wrong_prefix(ctx: Context, controller: Controller) -> Iterator[Finding]:
    """A name the controller reads, under a prefix it does not read (e.g.
    `ingress.kubernetes.io/affinity` on ingress-nginx): the setting silently does nothing."""
    own = (*controller.annotation_prefixes, *controller.alias_prefixes)
    others = {p for c in CONTROLLERS for p in c.annotation_prefixes} | set(_SHARED_PREFIXES)
    for key, value in sorted(ctx.annotations.items()):
        prefix, sep, name = key.rpartition("/")
        if not sep or f"{prefix}/" in own or f"{prefix}/" not in others:
            continue
        if name not in controller.annotation_names:
            continue
        right = f"{controller.annotation_prefixes[0]}{name}"
        if right in ctx.annotations:
            continue
        yield ctx.finding(
            "wrong-prefix",
            Severity.WARNING,
            f"{key} has a prefix {controller.title} does not read, so it does nothing; "
            f"the setting is {right}",
            f"rename it to {right}",
            (set_annotation(key, None), set_annotation(right, value)),
        )


def known_mistakes(ctx: Context, controller: Controller) -> Iterator[Finding]:
    for key, instead in controller.known_mistakes.items():
        if key in ctx.annotations:
            yield ctx.finding(
                "unknown-annotation",
                Severity.WARNING,
                f"{key} does not exist in {controller.title}: it does nothing",
                f"remove it; {instead}",
                (set_annotation(key, None),),
            )

"""Audits one Ingress: detect its controller, then run the generic and the controller's rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import common
from .controller import Context
from .detect import detect
from .load_balancers import load_balancer_idle_timeout, load_balancer_limits
from .model import AuditSettings, Finding, IngressView, Limit, Related, ingress_view


@dataclass(frozen=True)
class IngressAudit:
    ingress: IngressView
    controller: str | None
    detected_by: str
    findings: tuple[Finding, ...]
    # Every hop's limits on this Ingress's WebSockets (load balancer, controller, backend).
    limits: tuple[Limit, ...] = ()

    def tightest(self, kind: str) -> Limit | None:
        """The effective idle or lifetime limit of the path: the shortest hop's (None: no
        hop is known to set one)."""
        bounded = [limit for limit in self.limits if limit.kind == kind and limit.seconds]
        return min(bounded, key=lambda limit: limit.seconds or 0.0, default=None)

    def path_summary(self) -> dict[str, object]:
        """What lint prints per Ingress: the effective idle and lifetime limits, the hop and
        the setting that limit each, and every hop considered."""
        idle, lifetime = self.tightest("idle"), self.tightest("lifetime")
        return {
            "idle": idle.to_dict() if idle else None,
            "lifetime": lifetime.to_dict() if lifetime else None,
            "hops": [limit.to_dict() for limit in self.limits],
        }


def audit_ingress(
    obj: Mapping[str, Any] | IngressView,
    related: Related | None = None,
    settings: AuditSettings | None = None,
) -> IngressAudit:
    """Findings for an Ingress that serves WebSockets. Raises ManifestError only when the
    object is not shaped like an Ingress; any annotation values are judged, never trusted."""
    ingress = obj if isinstance(obj, IngressView) else ingress_view(obj)
    related = related or Related()
    detection = detect(ingress, related)
    controller = detection.controller
    ctx = Context(
        ingress,
        related,
        settings or AuditSettings(),
        controller.id if controller else "",
        controller.config_map_names if controller else (),
    )
    findings = list(common.tls(ctx, controller))
    limits: list[Limit] = []
    if controller is None:
        findings.extend(common.unknown_controller(ctx, detection))
    else:
        findings.extend(common.foreign_annotations(ctx, controller))
        findings.extend(common.wrong_prefix(ctx, controller))
        findings.extend(common.known_mistakes(ctx, controller))
        for rule in controller.rules:
            findings.extend(rule(ctx))
        if controller.limits is not None:
            limits.extend(controller.limits(ctx))
        if not controller.is_load_balancer:
            findings.extend(load_balancer_idle_timeout(ctx))
            limits.extend(load_balancer_limits(ctx))
    findings.sort(key=lambda f: (-f.severity, f.rule, f.message))
    return IngressAudit(
        ingress=ingress,
        controller=controller.id if controller else None,
        detected_by=detection.reason,
        findings=tuple(findings),
        limits=tuple(limits),
    )

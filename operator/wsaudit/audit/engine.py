"""Audits one Ingress: detect its controller, then run the generic and the controller's rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import common
from .controller import Context
from .detect import detect
from .model import AuditSettings, Finding, IngressView, Related, ingress_view


@dataclass(frozen=True)
class IngressAudit:
    ingress: IngressView
    controller: str | None
    detected_by: str
    findings: tuple[Finding, ...]


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
        ingress, related, settings or AuditSettings(), controller.id if controller else ""
    )
    findings = list(common.tls(ctx, controller))
    if controller is None:
        findings.extend(common.unknown_controller(ctx, detection))
    else:
        findings.extend(common.foreign_annotations(ctx, controller))
        findings.extend(common.known_mistakes(ctx, controller))
        for rule in controller.rules:
            findings.extend(rule(ctx))
    findings.sort(key=lambda f: (-f.severity, f.rule, f.message))
    return IngressAudit(
        ingress=ingress,
        controller=controller.id if controller else None,
        detected_by=detection.reason,
        findings=tuple(findings),
    )

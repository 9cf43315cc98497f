"""Ingress audit: WebSocket readiness rules per ingress controller, as pure functions.

A new controller is one module in controllers/ (its rules and how to recognise it) and one
line in registry.py.
"""

from .detect import detect
from .engine import IngressAudit, audit_ingress
from .manifests import Document, InputError, audit_documents, parse_stream
from .model import (
    AuditSettings,
    Change,
    Finding,
    Hop,
    IngressView,
    Limit,
    ManifestError,
    ObjectRef,
    Related,
    Severity,
    ingress_view,
)
from .registry import BY_ID, CONTROLLERS

__all__ = [
    "BY_ID",
    "CONTROLLERS",
    "AuditSettings",
    "Change",
    "Document",
    "Finding",
    "Hop",
    "IngressAudit",
    "IngressView",
    "InputError",
    "Limit",
    "ManifestError",
    "ObjectRef",
    "Related",
    "Severity",
    "audit_documents",
    "audit_ingress",
    "detect",
    "ingress_view",
    "parse_stream",
]

"""The validating admission webhook (kopf's webhook server; the chart renders the
ValidatingWebhookConfiguration). Ingresses get the audit's findings as warnings, or are
denied for errors in deny mode; WebSocketEndpoints are checked beyond the schema."""

from __future__ import annotations

from typing import Any

import kopf

from ..api.models import GROUP, PLURAL, VERSION, parse_spec
from ..audit import Severity
from ..probe import ProbeConfigError
from ..probe.config import prepare
from . import ingresses
from .runtime import runtime_of

INGRESS_WEBHOOK = "validate-ingress"
ENDPOINT_WEBHOOK = "validate-websocketendpoint"


async def validate_ingress(
    *,
    body: kopf.Body,
    namespace: str | None,
    name: str | None,
    memo: Any,
    warnings: list[str],
    **indices: Any,
) -> None:
    runtime = runtime_of(memo)
    namespace = namespace or "default"
    if not ingresses.serves_websockets(runtime, namespace, name or "", body):
        return
    result = await ingresses.audit(runtime, body, indices["ingress_class_index"])
    if result is None:
        return
    problems = [f for f in result.findings if f.severity >= Severity.WARNING]
    warnings.extend(f"wsaudit {f.rule}: {f.message} (fix: {f.fix})"[:500] for f in problems)
    errors = [f for f in problems if f.severity is Severity.ERROR]
    if errors and runtime.settings.webhook == "deny":
        rules = ", ".join(f.rule for f in errors)
        raise kopf.AdmissionError(
            f"wsaudit denies this Ingress ({rules}): {errors[0].message}; fix: {errors[0].fix}",
            code=422,
        )


async def validate_endpoint(*, spec: kopf.Spec, **_: Any) -> None:
    """What the schema cannot say: header names that would falsify the probe, origin and
    URL details the prober rejects. Secrets are read at probe time, not here."""
    try:
        prepare(parse_spec(dict(spec)).probe_config())
    except ProbeConfigError as exc:
        raise kopf.AdmissionError(f"spec.{exc.field}: {exc.reason}", code=422) from None


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.validate(
        *ingresses.INGRESS,
        id=INGRESS_WEBHOOK,
        operations=["CREATE", "UPDATE"],
        ignore_failures=True,
        registry=registry,
    )(validate_ingress)
    kopf.on.validate(
        GROUP,
        VERSION,
        PLURAL,
        id=ENDPOINT_WEBHOOK,
        operations=["CREATE", "UPDATE"],
        ignore_failures=True,
        registry=registry,
    )(validate_endpoint)

"""The validating admission webhook (kopf's webhook server; the chart renders the
ValidatingWebhookConfiguration). Ingresses get the audit's findings as warnings, or are
denied for errors in deny mode; WebSocketEndpoints are checked beyond the schema, and whoever
writes one that references a Secret must be allowed to get that Secret.

Every replica answers admission, the paused (standby) ones included, whose watches are
empty: so the answers depend only on the request and on what is read from the
API server here, never on watch state. All those reads share one ReadBudget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from ..api.models import GROUP, PLURAL, VERSION, SecretKeyRef, WebSocketEndpointSpec, parse_spec
from ..audit import IngressAudit, ObjectRef, Related, Severity
from ..probe import ProbeConfigError
from ..probe.config import prepare
from . import ingresses
from .budget import WEBHOOK_READ_BUDGET, ReadBudget
from .kube import KubeApi, Requester
from .runtime import Runtime, runtime_of

INGRESS_WEBHOOK = "validate-ingress"
ENDPOINT_WEBHOOK = "validate-websocketendpoint"
log = logging.getLogger(__name__)


async def validate_ingress(
    *,
    body: kopf.Body,
    memo: Any,
    warnings: list[str],
    **_: Any,
) -> None:
    """Only Ingresses annotated wsaudit.io/websocket=true, as the chart's matchConditions
    send (an Ingress audited because an endpoint refers to it is known from watch state
    only, which a standby replica does not have)."""
    if not ingresses.annotated(body):
        return
    runtime = runtime_of(memo)
    budget = ReadBudget(WEBHOOK_READ_BUDGET)
    result = await _audit_within(runtime, body, budget)
    if (missed := budget.warning()) is not None:
        warnings.append(missed[:500])
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


async def _audit_within(
    runtime: Runtime, body: kopf.Body, budget: ReadBudget
) -> IngressAudit | None:
    """The audit with IngressClasses, the configured cluster objects and what the rules
    need, as far as they are read within the budget."""

    async def cluster_objects(seconds: float) -> dict[ObjectRef, Mapping[str, Any]]:
        return await runtime.cluster_objects(request_timeout=seconds)

    async def read(ref: ObjectRef) -> Mapping[str, Any] | None:
        async def within(seconds: float) -> Mapping[str, Any] | None:
            return await runtime.kube.read_object(ref, request_timeout=seconds)

        return await budget.read(f"{ref.kind} {ref.namespace}/{ref.name}", within, None)

    classes: Mapping[str, Mapping[str, Any]] = await budget.read(
        "IngressClasses", runtime.kube.ingress_classes, {}
    )
    configured: Mapping[ObjectRef, Mapping[str, Any]] = await budget.read(
        "the controller ConfigMaps and Services (--controller-config, --load-balancer-service)",
        cluster_objects,
        {},
    )
    known = Related(ingress_classes=classes).with_objects(configured)
    return await ingresses.audit_with(body, known, read, runtime.audit_settings)


async def validate_endpoint(
    *,
    spec: kopf.Spec,
    namespace: str | None,
    userinfo: kopf.UserInfo,
    memo: Any,
    old: kopf.Body | None = None,
    **_: Any,
) -> None:
    """What the schema cannot say: header names that would falsify the probe, origin and
    URL details the prober rejects; and that the requester may get each Secret the endpoint
    references, since wsaudit would send or use its value for them (Secrets are read at
    probe time, not here)."""
    try:
        parsed = parse_spec(dict(spec))
        prepare(parsed.probe_config())
    except ProbeConfigError as exc:
        raise kopf.AdmissionError(f"spec.{exc.field}: {exc.reason}", code=422) from None
    old_spec = None if old is None else dict(old.get("spec") or {})
    refs = references_to_check(parsed, dict(spec), old_spec)
    if refs:
        requester = Requester.from_user_info(dict(userinfo))
        await check_secret_access(runtime_of(memo).kube, requester, namespace or "default", refs)


# What wsaudit does with each referenced Secret's value, for the denial message.
_USES = {
    "spec.auth.tokenSecretRef": "would send its value to spec.url",
    "spec.tls.caSecretRef": "would trust its value for spec.url's certificate",
}


def references_to_check(
    parsed: WebSocketEndpointSpec, spec: Mapping[str, Any], old_spec: Mapping[str, Any] | None
) -> dict[str, SecretKeyRef]:
    """The Secret references (by field path) whose use the requester must be allowed: all of
    them on CREATE and on an UPDATE that changes the spec (a new url, header or TLS setting
    sends the same Secret somewhere else, so unchanged references are checked again); none
    on an UPDATE of metadata only (labels, annotations, kopf's bookkeeping), which sends
    nothing anywhere new."""
    if old_spec is not None and old_spec == spec:
        return {}
    refs: dict[str, SecretKeyRef] = {}
    if parsed.auth is not None:
        refs["spec.auth.tokenSecretRef"] = parsed.auth.token_secret_ref
    if parsed.tls.ca_secret_ref is not None:
        refs["spec.tls.caSecretRef"] = parsed.tls.ca_secret_ref
    return refs


async def check_secret_access(
    kube: KubeApi, requester: Requester, namespace: str, refs: Mapping[str, SecretKeyRef]
) -> None:
    """Denies unless a SubjectAccessReview says `requester` may get every referenced Secret.
    Fails closed: an answer not had within the budget, or an error, denies too."""
    budget = ReadBudget(WEBHOOK_READ_BUDGET)
    names = sorted({ref.name for ref in refs.values()})

    async def may_get(name: str) -> bool | None:
        async def review(seconds: float) -> bool | None:
            return await kube.may_get_secret(requester, namespace, name, seconds)

        return await budget.read(f"Secret {namespace}/{name}", review, None)

    try:
        answers = dict(zip(names, await asyncio.gather(*map(may_get, names)), strict=True))
    except (ApiException, HTTPError, OSError) as exc:
        field = next(iter(refs))
        log.warning(
            "SubjectAccessReview for %s in %s failed: %r", requester.username, namespace, exc
        )
        status = exc.status if isinstance(exc, ApiException) else None
        hint = (
            "wsaudit's ServiceAccount needs create on subjectaccessreviews "
            "(the chart grants it with the webhook on)"
            if status == 403
            else "the API server did not answer; retry"
        )
        raise kopf.AdmissionError(
            f'{field}: wsaudit could not check that user "{requester.username}" may get the '
            f"Secrets this endpoint references ({hint}), so it denies the request",
            code=503,
        ) from None
    for field, ref in refs.items():
        allowed = answers[ref.name]
        if allowed is None:
            raise kopf.AdmissionError(
                f"{field}: wsaudit could not check within {budget.seconds:g} s that user "
                f'"{requester.username}" may get Secret {namespace}/{ref.name} (the API '
                "server's SubjectAccessReview did not answer in time), so it denies the "
                "request; retry",
                code=503,
            )
        if not allowed:
            raise kopf.AdmissionError(
                f'{field}: user "{requester.username}" may not get Secret '
                f"{namespace}/{ref.name}; wsaudit {_USES[field]}",
                code=403,
            )


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

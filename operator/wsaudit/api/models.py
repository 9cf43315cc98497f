"""Spec and status of a WebSocketEndpoint (wsaudit.io/v1alpha1)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ..probe import ProbeConfig, ProbeConfigError

GROUP = "wsaudit.io"
VERSION = "v1alpha1"
KIND = "WebSocketEndpoint"
PLURAL = "websocketendpoints"
SINGULAR = "websocketendpoint"
SHORT_NAMES = ["wse"]
CATEGORIES = ["wsaudit"]

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# No spaces or control characters (C0, DEL, C1): they would go out verbatim in a header
# or a request line. Non-ASCII letters are fine: hosts become IDNA, paths are encoded.
ORIGIN_PATTERN = r"^https?://[^/?#\s\x00-\x1f\x7f-\x9f]+$"
URL_PATTERN = r"^wss?://[^\s\x00-\x1f\x7f-\x9f]+$"
# A header value: visible ASCII, spaces and tabs (RFC 9110 field-value without obs-text).
HEADER_VALUE_PATTERN = r"^[\t\x20-\x7e]*$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
TOKEN_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # noqa: S105 (an RFC 7230 token, not a secret)
OriginText = Annotated[str, StringConstraints(pattern=ORIGIN_PATTERN, max_length=512)]
Token = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN, max_length=256)]
MIN_INTERVAL, MAX_INTERVAL = 10.0, 86400.0
# A token goes only over TLS whose certificate is verified, unless the spec opts in.
INSECURE_CREDENTIALS_RULE = (
    "!has(self.auth) || (has(self.auth.allowInsecureTransport) && "
    "self.auth.allowInsecureTransport) || (self.url.startsWith('wss://') && "
    "!(has(self.tls) && has(self.tls.insecureSkipVerify) && self.tls.insecureSkipVerify))"
)
INSECURE_CREDENTIALS_MESSAGE = (
    "auth sends a token, which must go over wss:// with a verified certificate; set "
    "auth.allowInsecureTransport to send it over ws:// or unverified TLS anyway"
)
MAX_TIMEOUT = 120.0
# The operator reads only Secrets labelled with this, "true": a Secret's owner opts it in, so
# that writing a WebSocketEndpoint cannot send any other Secret of the namespace to its URL.
PROBE_CREDENTIAL_LABEL = "wsaudit.io/probe-credential"


def duration_seconds(text: str) -> float:
    """Go-style durations as Kubernetes writes them: 90s, 1m30s, 500ms, 2h."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m or 1h")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class SecretKeyRef(_Model):
    """A key of a Secret in the WebSocketEndpoint's own namespace."""

    name: str = Field(
        description="Name of the Secret, in the same namespace. wsaudit reads only Secrets "
        f'labelled {PROBE_CREDENTIAL_LABEL}: "true", and with the admission webhook on, '
        "whoever writes the endpoint must be allowed to get the Secret.",
        pattern=NAME_PATTERN,
        max_length=253,
    )
    key: str = Field(
        description="Key within the Secret.",
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
    )


class Origins(_Model):
    """Which Origins the endpoint must accept and refuse (the CSWSH defence)."""

    allowed: list[OriginText] = Field(
        description="Origins that must get 101 Switching Protocols, as browsers send them "
        "(scheme://host[:port], no path), e.g. https://app.example.com.",
        min_length=1,
        max_length=20,
    )
    rejected: list[OriginText] = Field(
        default_factory=list,
        description="Extra untrusted Origins that must be refused (a foreign origin, null, "
        "no Origin and the bypass variants are always tried).",
        max_length=20,
    )
    bypass_checks: bool = Field(
        default=True,
        alias="bypassChecks",
        description="Also try Origins derived from each allowed one that catch prefix, "
        "suffix, regex, scheme and host-only validation bugs.",
    )
    require_origin_header: bool = Field(
        default=False,
        alias="requireOriginHeader",
        description="Fail (instead of warn) when a handshake without an Origin header is "
        "accepted. Set it when only browsers connect.",
    )


class Tls(_Model):
    """TLS expectations for wss:// endpoints."""

    required: bool = Field(
        default=True, description="A ws:// URL fails the tls.scheme check (warns if false)."
    )
    min_certificate_days: int = Field(
        default=14,
        alias="minCertificateDays",
        ge=0,
        le=365,
        description="tls.expiry fails when the certificate has fewer days left.",
    )
    ca_secret_ref: SecretKeyRef | None = Field(
        default=None,
        alias="caSecretRef",
        description="PEM CA bundle to trust instead of the system roots (a private CA).",
    )
    insecure_skip_verify: bool = Field(
        default=False,
        alias="insecureSkipVerify",
        description="Do not verify the certificate chain and host name (expiry is still reported).",
    )


class IngressRef(_Model):
    """The Ingress that serves this endpoint; its audit becomes IngressConfigured."""

    name: str = Field(
        description="Name of the Ingress, in the same namespace.",
        pattern=NAME_PATTERN,
        max_length=253,
    )


class Auth(_Model):
    """Credentials sent with every handshake, as the browser of a logged-in user would."""

    token_secret_ref: SecretKeyRef = Field(
        alias="tokenSecretRef",
        description="Bearer token (sent as Authorization: Bearer) from a Secret in the same "
        "namespace.",
    )
    allow_insecure_transport: bool = Field(
        default=False,
        alias="allowInsecureTransport",
        description="Also send the token over ws:// or to a server whose certificate is not "
        "verified (tls.insecureSkipVerify), where anyone on the path can read it. Off: such a "
        "spec is refused.",
    )


class Header(_Model):
    name: str = Field(
        description="Header name (not Host, Origin, Cookie, Upgrade, "
        "Connection or Sec-WebSocket-*).",
        pattern=TOKEN_PATTERN,
        max_length=256,
    )
    value: str = Field(
        description="Header value: visible ASCII, spaces and tabs.",
        max_length=4096,
        pattern=HEADER_VALUE_PATTERN,
    )


class WebSocketEndpointSpec(_Model):
    """A WebSocket endpoint that wsaudit probes periodically."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "duration(self.interval) >= duration('10s') && "
                    "duration(self.interval) <= duration('24h')",
                    "message": "interval must be between 10s and 24h",
                    "fieldPath": ".interval",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "duration(self.timeout) > duration('0s') && "
                    "duration(self.timeout) <= duration('2m')",
                    "message": "timeout must be above 0 and at most 2m",
                    "fieldPath": ".timeout",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "duration(self.timeout) < duration(self.interval)",
                    "message": "timeout must be shorter than interval",
                    "fieldPath": ".timeout",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": INSECURE_CREDENTIALS_RULE,
                    "message": INSECURE_CREDENTIALS_MESSAGE,
                    "fieldPath": ".auth",
                    "reason": "FieldValueForbidden",
                },
            ]
        },
    )

    url: str = Field(
        description="The endpoint, ws:// or wss://, as a browser would open it.",
        pattern=URL_PATTERN,
        max_length=2048,
    )
    interval: str = Field(
        default="60s",
        description="How often to probe (10s to 24h), e.g. 60s or 5m. Probes are jittered.",
        pattern=DURATION_PATTERN,
    )
    timeout: str = Field(
        default="10s",
        description="Deadline of one probe (at most 2m, and less than interval).",
        pattern=DURATION_PATTERN,
    )
    origins: Origins
    tls: Tls = Field(
        default_factory=Tls,
        description="TLS expectations (defaults apply when omitted).",
        json_schema_extra={"default": {}},
    )
    ingress_ref: IngressRef | None = Field(default=None, alias="ingressRef")
    headers: list[Header] = Field(
        default_factory=list, max_length=20, description="Extra request headers."
    )
    subprotocols: list[Token] = Field(
        default_factory=list,
        max_length=10,
        description="Subprotocols offered in Sec-WebSocket-Protocol.",
        json_schema_extra={
            "items": {"type": "string", "pattern": r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}
        },
    )
    auth: Auth | None = None
    suspend: bool = Field(default=False, description="Pause probing; status is kept.")

    @field_validator("interval")
    @classmethod
    def _interval_in_bounds(cls, value: str) -> str:
        seconds = duration_seconds(value)
        if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
            raise ValueError("interval must be between 10s and 24h")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_in_bounds(cls, value: str) -> str:
        seconds = duration_seconds(value)
        if not 0 < seconds <= MAX_TIMEOUT:
            raise ValueError("timeout must be above 0 and at most 2m")
        return value

    @model_validator(mode="after")
    def _credentials_over_verified_tls(self) -> WebSocketEndpointSpec:
        """The pydantic twin of INSECURE_CREDENTIALS_RULE (the webhook and the operator)."""
        if self.auth is None or self.auth.allow_insecure_transport:
            return self
        if not self.url.startswith("wss://") or self.tls.insecure_skip_verify:
            raise ValueError(INSECURE_CREDENTIALS_MESSAGE)
        return self

    @property
    def interval_seconds(self) -> float:
        return duration_seconds(self.interval)

    def probe_config(self, token: str | None = None, ca_data: str | None = None) -> ProbeConfig:
        """What the probe engine needs; the token and CA come from Secrets at probe time."""
        return ProbeConfig(
            url=self.url,
            allowed_origins=tuple(self.origins.allowed),
            rejected_origins=tuple(self.origins.rejected),
            bypass_checks=self.origins.bypass_checks,
            require_origin_header=self.origins.require_origin_header,
            timeout=self.timeout_seconds,
            headers=tuple((h.name, h.value) for h in self.headers),
            subprotocols=tuple(self.subprotocols),
            bearer_token=token,
            tls_required=self.tls.required,
            min_certificate_days=self.tls.min_certificate_days,
            ca_data=ca_data,
            insecure_skip_verify=self.tls.insecure_skip_verify,
            insecure_credentials=self.auth is not None and self.auth.allow_insecure_transport,
        )

    @property
    def timeout_seconds(self) -> float:
        return duration_seconds(self.timeout)


def parse_spec(raw: object) -> WebSocketEndpointSpec:
    """The spec, or ProbeConfigError naming the first invalid field (as spec.<path>)."""
    try:
        return WebSocketEndpointSpec.model_validate(raw or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ProbeConfigError(".".join(str(part) for part in error["loc"]), error["msg"]) from None


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(_Model):
    """A Kubernetes API convention condition."""

    type: str
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field(max_length=32768)
    last_transition_time: str = Field(
        alias="lastTransitionTime", json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = Field(default=None, alias="observedGeneration", ge=0)


class CheckSummary(_Model):
    id: str
    status: Literal["pass", "warn", "fail", "skip"]
    message: str
    details: dict[str, Any] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )


class WebSocketEndpointStatus(_Model):
    observed_generation: int | None = Field(default=None, alias="observedGeneration")
    last_probe_time: str | None = Field(
        default=None,
        alias="lastProbeTime",
        description="When the probe that last changed the status ran; refreshed at least "
        "hourly while the endpoint is probed. Every probe's time is the metric "
        "wsaudit_endpoint_last_probe_timestamp_seconds.",
        json_schema_extra={"format": "date-time"},
    )
    cause: str | None = Field(default=None, description="Why the handshake failed, if it did.")
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    checks: list[CheckSummary] = Field(default_factory=list)

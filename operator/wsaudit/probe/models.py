"""Typed results of one probe: checks, timings, and the configuration that produced them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class CheckStatus(enum.StrEnum):
    PASS = "pass"  # noqa: S105 (a check status, not a password)
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def severity(self) -> int:
        """Orders statuses so the worst of several can be picked."""
        return _SEVERITY[self]


_SEVERITY = {CheckStatus.SKIP: 0, CheckStatus.PASS: 1, CheckStatus.WARN: 2, CheckStatus.FAIL: 3}


@dataclass(frozen=True)
class Check:
    """One verdict of a probe. `id` is stable (scripts and metrics key on it)."""

    id: str
    status: CheckStatus
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True)
class ProbeConfig:
    """What to probe and how. One config describes one endpoint."""

    url: str
    allowed_origins: tuple[str, ...] = ()
    rejected_origins: tuple[str, ...] = ()
    bypass_checks: bool = True
    require_origin_header: bool = False
    timeout: float = 10.0
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    bearer_token: str | None = None
    tls_required: bool = True
    min_certificate_days: int = 14
    ca_file: str | None = None
    ca_data: str | None = None
    insecure_skip_verify: bool = False
    idle_seconds: float | None = None
    # ADDR[:PORT] to connect to instead of the URL's host, which keeps its name for Host,
    # SNI and origins (a staging load balancer under the production name).
    connect_to: str | None = None
    # Send the bearer token even over ws:// or unverified TLS (readable on the path).
    insecure_credentials: bool = False


@dataclass
class ProbeResult:
    url: str
    checks: list[Check]
    timings: dict[str, float]
    address: str | None = None
    cause: str | None = None

    @property
    def failed(self) -> bool:
        return any(check.status is CheckStatus.FAIL for check in self.checks)

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "address": self.address,
            "cause": self.cause,
            "checks": [check.to_dict() for check in self.checks],
            "timings": {phase: round(seconds, 6) for phase, seconds in self.timings.items()},
        }

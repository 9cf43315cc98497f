"""The WebSocketEndpoint custom resource: pydantic models (the single source of truth for
the CRD schema), CRD generation, and the conditions computed from a probe."""

from .models import (
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    Condition,
    WebSocketEndpointSpec,
    WebSocketEndpointStatus,
)

__all__ = [
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Condition",
    "WebSocketEndpointSpec",
    "WebSocketEndpointStatus",
]

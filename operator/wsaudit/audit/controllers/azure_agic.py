"""Azure Application Gateway Ingress Controller (AGIC). The backend request timeout
(default 30 s) applies to WebSocket connections proxied by Application Gateway.

Docs: https://azure.github.io/application-gateway-kubernetes-ingress/annotations/
"""

from __future__ import annotations

from ..controller import Controller, Timeout, redirect_required_rule, timeout_rule
from ..durations import Format

PREFIX = "appgw.ingress.kubernetes.io/"

CONTROLLER = Controller(
    id="azure-agic",
    title="Azure Application Gateway Ingress Controller",
    docs="https://azure.github.io/application-gateway-kubernetes-ingress/annotations/",
    ingress_class_controllers=("azure/application-gateway",),
    class_names=("azure-application-gateway",),
    annotation_prefixes=(PREFIX,),
    rules=(
        timeout_rule(Timeout("request-timeout", f"{PREFIX}request-timeout", Format.SECONDS, 30)),
        redirect_required_rule(f"{PREFIX}ssl-redirect", "true"),
    ),
    tls_annotations=(f"{PREFIX}appgw-ssl-certificate",),
)

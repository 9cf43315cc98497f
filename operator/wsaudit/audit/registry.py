"""Every supported ingress controller. Adding one: a module in controllers/ and a line here.

Order matters only where controllers share an ingress class name ("nginx", "haproxy"):
the earlier one wins unless the Ingress carries the other's annotations.
"""

from __future__ import annotations

from .controller import Controller
from .controllers import (
    aws_alb,
    azure_agic,
    contour,
    gke,
    haproxy_ingress,
    haproxy_tech,
    ingress_nginx,
    kong,
    nginx_inc,
    traefik,
)

CONTROLLERS: tuple[Controller, ...] = (
    ingress_nginx.CONTROLLER,
    nginx_inc.CONTROLLER,
    aws_alb.CONTROLLER,
    gke.CONTROLLER,
    haproxy_ingress.CONTROLLER,
    haproxy_tech.CONTROLLER,
    contour.CONTROLLER,
    kong.CONTROLLER,
    azure_agic.CONTROLLER,
    traefik.CONTROLLER,
)

BY_ID = {controller.id: controller for controller in CONTROLLERS}

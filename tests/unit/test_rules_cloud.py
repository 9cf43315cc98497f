"""AWS ALB, GKE, Azure AGIC and the cloud load balancer in front: each rule fires on the
misconfiguration it names and stays quiet once its own fix is applied."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from support.fixes import apply_changes
from wsaudit.audit import (
    AuditSettings,
    Hop,
    Related,
    Severity,
    audit_ingress,
    ingress_view,
)
from wsaudit.audit.controller import Context
from wsaudit.audit.load_balancers import (
    load_balancer_idle_timeout,
    load_balancer_limits,
    long_polling_paths,
)
from wsaudit.audit.manifests import Document, related_objects

ALB = "alb.ingress.kubernetes.io/"
ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
GOOD_IDLE = {f"{ALB}load-balancer-attributes": "idle_timeout.timeout_seconds=3600"}


def ingress(
    annotations: dict[str, str] | None = None,
    *,
    class_name: str | None = None,
    path: str = "/ws",
    tls: bool = False,
    host: str | None = "chat.example.com",
    port: dict[str, Any] | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": "chat", "port": port or {"number": 80}}},
                }
            ]
        }
    }
    if host:
        rule["host"] = host
    spec: dict[str, Any] = {"rules": [rule]}
    if class_name:
        spec["ingressClassName"] = class_name
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": "chat-tls"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "chat", "namespace": "prod", "annotations": annotations or {}},
        "spec": spec,
    }


def audit(objects: list[dict[str, Any]], **settings: float) -> set[str]:
    """Rules fired on the first object (an Ingress), given the others beside it."""
    documents = [Document("test", i, obj) for i, obj in enumerate(objects, start=1)]
    result = audit_ingress(objects[0], related_objects(documents), AuditSettings(**settings))
    return {f.rule for f in result.findings if f.severity >= Severity.WARNING}


def fixed(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects with every change of every finding applied."""
    objects = copy.deepcopy(objects)
    documents = [Document("test", i, obj) for i, obj in enumerate(objects, start=1)]
    result = audit_ingress(objects[0], related_objects(documents), AuditSettings())
    apply_changes(objects, result.findings, ("prod", "chat"))
    return objects


def fires_then_clean(objects: list[dict[str, Any]], rule: str) -> None:
    assert rule in audit(objects)
    assert audit(fixed(objects)) == set()


# --- AWS Load Balancer Controller -------------------------------------------------------


def alb(annotations: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    return ingress({**GOOD_IDLE, **annotations}, class_name="alb", **kwargs)


def test_alb_certificate_arn_alone_is_https_only_so_no_redirect_and_no_tls_missing() -> None:
    result = audit_ingress(alb({f"{ALB}certificate-arn": ARN}))
    assert {f.rule for f in result.findings} == set()


def test_alb_spec_tls_without_https_listener_is_not_served() -> None:
    obj = alb({}, tls=True)
    found = audit_ingress(obj).findings
    missing = next(f for f in found if f.rule == "aws-alb.https-listener-missing")
    assert missing.severity is Severity.ERROR
    assert "never serves spec.tls secrets" in missing.message
    assert "ingress.tls-missing" not in {f.rule for f in found}  # spec.tls covers the host
    fires_then_clean([obj], "aws-alb.https-listener-missing")


def test_alb_without_tls_or_arn_serves_http_only() -> None:
    obj = alb({})
    assert {"aws-alb.https-listener-missing", "ingress.tls-missing"} <= audit([obj])
    after = fixed([obj])[0]["metadata"]["annotations"]
    assert after[f"{ALB}listen-ports"] == '[{"HTTP": 80}, {"HTTPS": 443}]'
    assert after[f"{ALB}ssl-redirect"] == "443"
    assert audit(fixed([obj])) == set()


def test_alb_ssl_redirect_without_https_listener_fails_the_group() -> None:
    obj = alb({f"{ALB}ssl-redirect": "443"}, tls=True)
    found = audit_ingress(obj).findings
    error = next(f for f in found if f.rule == "aws-alb.ssl-redirect-invalid")
    assert error.severity is Severity.ERROR
    assert "listener does not exist for SSLRedirect port: 443" in error.message
    fires_then_clean([obj], "aws-alb.ssl-redirect-invalid")


def test_alb_ssl_redirect_to_an_http_port_and_non_numeric() -> None:
    both = {f"{ALB}listen-ports": '[{"HTTP": 80}, {"HTTPS": 8443}]', f"{ALB}certificate-arn": ARN}
    obj = alb({**both, f"{ALB}ssl-redirect": "80"})
    error = next(f for f in audit_ingress(obj).findings if f.rule == "aws-alb.ssl-redirect-invalid")
    assert "non-SSL" in error.message and error.changes[0].value == "8443"
    fires_then_clean([obj], "aws-alb.ssl-redirect-invalid")
    fires_then_clean([alb({**both, f"{ALB}ssl-redirect": "true"})], "aws-alb.ssl-redirect-invalid")


def test_alb_redirect_only_when_both_listeners_exist() -> None:
    both = {f"{ALB}listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]', f"{ALB}certificate-arn": ARN}
    fires_then_clean([alb(both)], "aws-alb.https-redirect")
    https_only = {f"{ALB}listen-ports": '[{"HTTPS": 443}]', f"{ALB}certificate-arn": ARN}
    assert audit([alb(https_only)]) == set()


def test_alb_acm_discovery_needs_a_host() -> None:
    listen = {f"{ALB}listen-ports": '[{"HTTPS": 443}]'}
    assert audit([alb(listen)]) == set()  # certificate discovered for chat.example.com
    hostless = alb(listen, host=None)
    assert "aws-alb.certificate-missing" in audit([hostless])


def test_alb_invalid_listen_ports_fails_the_group() -> None:
    obj = alb({f"{ALB}listen-ports": '[{"HTTPS": "443"}]'})
    fires_then_clean([obj], "aws-alb.listen-ports-invalid")


def test_alb_idle_timeout_warning_invalid_and_above_4000() -> None:
    attrs = f"{ALB}load-balancer-attributes"
    both = {f"{ALB}certificate-arn": ARN}
    short = alb({**both, attrs: "routing.http2.enabled=true,idle_timeout.timeout_seconds=120"})
    idle = next(f for f in audit_ingress(short).findings if f.rule == "aws-alb.idle-timeout")
    assert idle.severity is Severity.WARNING
    assert "routing.http2.enabled=true,idle_timeout.timeout_seconds=3600" in idle.fix
    fires_then_clean([short], "aws-alb.idle-timeout")
    too_long = alb({**both, attrs: "idle_timeout.timeout_seconds=5000"})
    error = next(
        f for f in audit_ingress(too_long).findings if f.rule == "aws-alb.idle-timeout-invalid"
    )
    assert error.severity is Severity.ERROR and "not ignored" in error.message
    fires_then_clean([too_long], "aws-alb.idle-timeout-invalid")
    fires_then_clean(
        [alb({**both, attrs: "idle_timeout.timeout_seconds"})],
        ("aws-alb.load-balancer-attributes-invalid"),
    )
    # wanted is capped at the 4000 s AWS accepts
    assert (
        audit([alb({**both, attrs: "idle_timeout.timeout_seconds=4000"})], min_timeout_seconds=7200)
        == set()
    )


def test_alb_stickiness_for_socket_io() -> None:
    obj = alb({f"{ALB}certificate-arn": ARN}, path="/socket.io")
    fires_then_clean([obj], "aws-alb.stickiness")
    assert audit([alb({f"{ALB}certificate-arn": ARN})]) == set()  # /ws needs no affinity


def test_alb_camel_case_annotations_are_unknown() -> None:
    obj = alb({f"{ALB}certificate-arn": ARN, f"{ALB}listenPorts": '[{"HTTPS": 443}]'})
    fires_then_clean([obj], "aws-alb.unknown-annotation")


def test_alb_limits_and_tls_termination() -> None:
    result = audit_ingress(alb({f"{ALB}certificate-arn": ARN}))
    idle = result.tightest("idle")
    assert idle is not None and idle.seconds == 3600 and idle.hop is Hop.LOAD_BALANCER
    assert result.tightest("lifetime") is None


# --- GKE ------------------------------------------------------------------------------------

GCE = {"kubernetes.io/ingress.class": "gce", "networking.gke.io/managed-certificates": "cert"}
REDIRECT = {"networking.gke.io/v1beta1.FrontendConfig": "redirect"}


def service(annotations: dict[str, str], ports: list[dict[str, Any]] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "chat", "namespace": "prod", "annotations": annotations},
        "spec": {"ports": ports or [{"name": "http", "port": 80, "targetPort": 8080}]},
    }


def backend_config(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cloud.google.com/v1",
        "kind": "BackendConfig",
        "metadata": {"name": name, "namespace": "prod"},
        "spec": spec,
    }


def test_gke_backend_timeout_is_a_lifetime_and_the_fix_creates_the_backend_config() -> None:
    objects = [ingress({**GCE, **REDIRECT}), service({})]
    fires_then_clean(objects, "gke.backend-timeout")
    result = audit_ingress(objects[0], related_objects([Document("t", 1, o) for o in objects]))
    lifetime = result.tightest("lifetime")
    assert lifetime is not None and lifetime.seconds == 30 and result.tightest("idle") is None


def test_gke_backend_config_by_port_name_or_number() -> None:
    good = backend_config("ws", {"timeoutSec": 3600})
    for mapping in ('{"ports": {"http": "ws"}}', '{"ports": {"80": "ws"}}', '{"default": "ws"}'):
        svc = service({"cloud.google.com/backend-config": mapping})
        assert audit([ingress({**GCE, **REDIRECT}), svc, good]) == set(), mapping
        by_name = ingress({**GCE, **REDIRECT}, port={"name": "http"})
        assert audit([by_name, svc, good]) == set(), mapping
    other_port = service({"cloud.google.com/backend-config": '{"ports": {"9090": "ws"}}'})
    fires_then_clean([ingress({**GCE, **REDIRECT}), other_port, good], "gke.backend-timeout")


def test_gke_short_timeout_in_backend_config() -> None:
    svc = service({"cloud.google.com/backend-config": '{"default": "ws"}'})
    fires_then_clean(
        [ingress({**GCE, **REDIRECT}), svc, backend_config("ws", {"timeoutSec": 30})],
        "gke.backend-timeout",
    )


def test_gke_backend_config_on_the_ingress_is_moved_to_the_service() -> None:
    misplaced = {**GCE, **REDIRECT, "cloud.google.com/backend-config": '{"default": "ws"}'}
    objects = [ingress(misplaced), service({}), backend_config("ws", {"timeoutSec": 3600})]
    fires_then_clean(objects, "gke.backend-config-on-ingress")


def test_gke_ingress_class_name_is_served_by_nobody() -> None:
    obj = ingress({"networking.gke.io/managed-certificates": "cert", **REDIRECT}, class_name="gce")
    svc = service({"cloud.google.com/backend-config": '{"default": "ws"}'})
    objects = [obj, svc, backend_config("ws", {"timeoutSec": 3600})]
    result = audit_ingress(obj, related_objects([Document("t", 1, o) for o in objects]))
    assert result.controller == "gke"
    error = next(f for f in result.findings if f.rule == "gke.ingress-class-name")
    assert error.severity is Severity.ERROR
    fires_then_clean(objects, "gke.ingress-class-name")
    after = fixed(objects)[0]
    assert "ingressClassName" not in after["spec"]


def test_gke_regional_external_class_and_allow_http_false() -> None:
    svc = service({"cloud.google.com/backend-config": '{"default": "ws"}'})
    good = backend_config("ws", {"timeoutSec": 3600})
    regional = {**GCE, "kubernetes.io/ingress.class": "gce-regional-external"}
    result = audit_ingress(ingress(regional), Related())
    assert result.controller == "gke"
    fires_then_clean([ingress(regional), svc, good], "gke.https-redirect")
    https_only = {**GCE, "kubernetes.io/ingress.allow-http": "false"}
    assert audit([ingress(https_only), svc, good]) == set()


def test_gke_managed_certificate_terminates_tls() -> None:
    result = audit_ingress(ingress({**GCE, **REDIRECT}))
    assert "ingress.tls-missing" not in {f.rule for f in result.findings}
    plain = audit_ingress(ingress({"kubernetes.io/ingress.class": "gce", **REDIRECT}))
    assert "ingress.tls-missing" in {f.rule for f in plain.findings}


def test_gke_session_affinity_for_signalr_and_health_check_at_root() -> None:
    svc = service({"cloud.google.com/backend-config": '{"default": "ws"}'})
    good = backend_config("ws", {"timeoutSec": 3600})
    fires_then_clean(
        [ingress({**GCE, **REDIRECT}, path="/hubs/chat"), svc, good], ("gke.session-affinity")
    )
    root = [ingress({**GCE, **REDIRECT}, path="/"), svc, good]
    result = audit_ingress(root[0], related_objects([Document("t", 1, o) for o in root]))
    check = next(f for f in result.findings if f.rule == "gke.health-check")
    assert check.severity is Severity.INFO
    assert check.changes[0].path == ("spec", "healthCheck", "requestPath")


# --- Azure AGIC -----------------------------------------------------------------------------

APPGW = "appgw.ingress.kubernetes.io/"
AGIC_OK = {f"{APPGW}ssl-redirect": "true", f"{APPGW}health-probe-path": "/healthz"}


def agic(annotations: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    return ingress(annotations, class_name="azure-application-gateway", tls=True, **kwargs)


def test_agic_request_timeout_is_an_idle_limit_with_a_30_second_default() -> None:
    obj = agic(AGIC_OK)
    result = audit_ingress(obj)
    timeout = next(f for f in result.findings if f.rule == "azure-agic.request-timeout")
    assert "default 30 s" in timeout.message
    idle = result.tightest("idle")
    assert idle is not None and idle.seconds == 30
    fires_then_clean([obj], "azure-agic.request-timeout")


def test_agic_invalid_request_timeout() -> None:
    ignored = agic({**AGIC_OK, f"{APPGW}request-timeout": "1h"})
    finding = next(
        f for f in audit_ingress(ignored).findings if f.rule == "azure-agic.request-timeout-invalid"
    )
    assert finding.severity is Severity.WARNING
    fires_then_clean([ignored], "azure-agic.request-timeout-invalid")
    rejected = agic({**AGIC_OK, f"{APPGW}request-timeout": "100000"})
    finding = next(
        f
        for f in audit_ingress(rejected).findings
        if f.rule == "azure-agic.request-timeout-invalid"
    )
    assert finding.severity is Severity.ERROR


def test_agic_legacy_class_value_of_its_websocket_how_to() -> None:
    obj = ingress({"kubernetes.io/ingress.class": "azure/application-gateway"}, tls=True)
    assert audit_ingress(obj).controller == "azure-agic"


def test_agic_cookie_affinity_redirect_and_health_probe() -> None:
    good = {**AGIC_OK, f"{APPGW}request-timeout": "3600"}
    fires_then_clean([agic(good, path="/socket.io")], "azure-agic.cookie-affinity")
    fires_then_clean([agic({**good, f"{APPGW}ssl-redirect": "false"})], "azure-agic.https-redirect")
    probe = {k: v for k, v in good.items() if k != f"{APPGW}health-probe-path"}
    result = audit_ingress(agic(probe))
    finding = next(f for f in result.findings if f.rule == "azure-agic.health-probe")
    assert finding.severity is Severity.INFO and "/ws" in finding.message
    assert audit_ingress(agic(good)).findings == ()


def test_agic_ssl_certificate_annotation_terminates_tls() -> None:
    obj = ingress(
        {**AGIC_OK, f"{APPGW}appgw-ssl-certificate": "wildcard"},
        class_name="azure-application-gateway",
    )
    assert "ingress.tls-missing" not in {f.rule for f in audit_ingress(obj).findings}


# --- The load balancer in front -------------------------------------------------------------


def lb_service(
    name: str, annotations: dict[str, str], port: int = 443, controller: str = "ingress-nginx"
) -> dict[str, Any]:
    """A LoadBalancer Service labelled as the controller's chart labels it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "prod",
            "annotations": annotations,
            "labels": {"app.kubernetes.io/name": controller},
        },
        "spec": {"type": "LoadBalancer", "ports": [{"port": port, "protocol": "TCP"}]},
    }


def test_a_load_balancer_in_front_of_another_controller_is_not_this_ones() -> None:
    kong_lb = lb_service("kong-proxy", {f"{AWS}connection-idle-timeout": "20"}, controller="kong")
    assert load_balancer_limits(context(kong_lb)) == []


def context(*services: dict[str, Any], min_timeout: float = 3600) -> Context:
    related = Related(services={("prod", s["metadata"]["name"]): s for s in services})
    view = ingress_view(ingress({}, class_name="nginx"))
    return Context(view, related, AuditSettings(min_timeout_seconds=min_timeout), "ingress-nginx")


AWS = "service.beta.kubernetes.io/aws-load-balancer-"
AZ = "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"


@pytest.mark.parametrize(
    ("annotations", "seconds", "key", "value"),
    [
        ({f"{AWS}backend-protocol": "tcp"}, 60, f"{AWS}connection-idle-timeout", "3600"),
        ({f"{AWS}connection-idle-timeout": "120"}, 120, f"{AWS}connection-idle-timeout", "3600"),
        (
            {f"{AWS}type": "external", f"{AWS}nlb-target-type": "ip"},
            350,
            f"{AWS}listener-attributes.TCP-443",
            "tcp.idle_timeout.seconds=3600",
        ),
        ({AZ: "10", "service.beta.kubernetes.io/azure-dns-label-name": "x"}, 600, AZ, "60"),
        ({"service.beta.kubernetes.io/azure-dns-label-name": "x"}, 240, AZ, "60"),
    ],
)
def test_load_balancer_idle_timeout_and_its_fix(
    annotations: dict[str, str], seconds: float, key: str, value: str
) -> None:
    svc = lb_service("ingress-nginx-controller", annotations)
    ctx = context(svc)
    [limit] = load_balancer_limits(ctx)
    assert limit.kind == "idle" and limit.seconds == seconds and limit.hop is Hop.LOAD_BALANCER
    [finding] = load_balancer_idle_timeout(ctx)
    assert finding.rule == "ingress-nginx.load-balancer-idle-timeout"
    change = next(c for c in finding.changes if c.path[-1] == key)
    assert (change.kind, change.name, change.value) == ("Service", svc["metadata"]["name"], value)
    objects = [svc]
    apply_changes(objects, [finding], ("prod", "chat"))
    assert list(load_balancer_idle_timeout(context(objects[0]))) == []
    assert load_balancer_limits(context(objects[0]))[0].seconds >= 3600


def test_in_tree_nlb_is_handed_to_the_aws_load_balancer_controller() -> None:
    svc = lb_service("edge", {f"{AWS}type": "nlb"})
    [finding] = load_balancer_idle_timeout(context(svc))
    assert "in-tree" in finding.message
    values = {c.path[-1]: c.value for c in finding.changes}
    assert values[f"{AWS}type"] == "external" and values[f"{AWS}nlb-target-type"] == "instance"


def test_unknown_cloud_and_backends_are_not_judged() -> None:
    assert load_balancer_limits(context(lb_service("edge", {}))) == []
    # The Ingress's own backend exposed as a LoadBalancer: not the controller's Service.
    backend = lb_service("chat", {f"{AWS}backend-protocol": "tcp"}, controller="chat")
    assert load_balancer_limits(context(backend)) == []


def test_long_polling_paths() -> None:
    for path in ("/socket.io", "/sockjs/info", "/signalr", "/hubs/chat", "/chathub"):
        assert long_polling_paths(ingress_view(ingress({}, path=path))) == [path]
    assert long_polling_paths(ingress_view(ingress({}, path="/ws"))) == []

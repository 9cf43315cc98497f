"""Each rule fires on the misconfiguration it names and stays quiet on the fix."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support import manifests
from wsaudit.audit import AuditSettings, ManifestError, Related, Severity, audit_ingress

ingress = manifests.ingress


def service(name: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": "prod", "annotations": annotations},
    }


def rules(obj: dict[str, Any], related: Related | None = None, **settings: float) -> set[str]:
    return {f.rule for f in audit_ingress(obj, related, AuditSettings(**settings)).findings}


NGINX = "nginx.ingress.kubernetes.io/"
GOOD_NGINX = {f"{NGINX}proxy-read-timeout": "3600", f"{NGINX}proxy-send-timeout": "3600"}


def test_ingress_nginx_defaults_are_too_short_and_the_fix_passes() -> None:
    found = rules(ingress())
    assert "ingress-nginx.proxy-read-timeout" in found
    # The send timeout does not cut idle WebSockets: nothing is said unless someone set it.
    assert "ingress-nginx.proxy-send-timeout" not in found
    short_send = rules(ingress(annotations={f"{NGINX}proxy-send-timeout": "30"}))
    assert "ingress-nginx.proxy-send-timeout" in short_send
    assert rules(ingress(annotations=GOOD_NGINX)) == {"ingress-nginx.retired"}


def test_ingress_nginx_reads_bare_seconds_only() -> None:
    found = audit_ingress(ingress(annotations={**GOOD_NGINX, f"{NGINX}proxy-read-timeout": "1h"}))
    invalid = [f for f in found.findings if f.rule == "ingress-nginx.proxy-read-timeout-invalid"]
    assert len(invalid) == 1
    assert "default 60 s" in invalid[0].message
    assert invalid[0].fix == f'set {NGINX}proxy-read-timeout: "3600" on the Ingress'


def test_minimum_is_configurable() -> None:
    short = {f"{NGINX}proxy-read-timeout": "300", f"{NGINX}proxy-send-timeout": "300"}
    assert "ingress-nginx.proxy-read-timeout" in rules(ingress(annotations=short))
    assert "ingress-nginx.proxy-read-timeout" not in rules(
        ingress(annotations=short), min_timeout_seconds=120
    )


@pytest.mark.parametrize(
    ("annotation", "value", "rule"),
    [
        ("proxy-http-version", "1.0", "ingress-nginx.proxy-http-version"),
        # The template sets proxy_http_version in the location: a second one is a duplicate
        # directive, nginx -t fails and the Ingress never loads (test_nginx_behaviour.py).
        (
            "configuration-snippet",
            "proxy_http_version 1.1;",
            "ingress-nginx.snippet-duplicate-directive",
        ),
        ("connection-proxy-header", "keep-alive", "ingress-nginx.connection-proxy-header"),
    ],
)
def test_ingress_nginx_errors_that_break_the_upgrade(
    annotation: str, value: str, rule: str
) -> None:
    found = audit_ingress(ingress(annotations={**GOOD_NGINX, f"{NGINX}{annotation}": value}))
    assert any(f.rule == rule and f.severity is Severity.ERROR for f in found.findings)


def test_ingress_nginx_snippet_that_keeps_the_upgrade_is_fine() -> None:
    snippet = 'proxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection "upgrade";'
    annotations = {**GOOD_NGINX, f"{NGINX}configuration-snippet": snippet}
    assert "ingress-nginx.snippet-overrides-upgrade" not in rules(ingress(annotations=annotations))


def test_socket_io_needs_affinity_on_ingress_nginx() -> None:
    obj = ingress(annotations=GOOD_NGINX, paths=(("/socket.io", "chat"),))
    assert "ingress-nginx.session-affinity" in rules(obj)
    sticky = ingress(
        annotations={**GOOD_NGINX, f"{NGINX}affinity": "cookie"}, paths=(("/socket.io", "chat"),)
    )
    assert "ingress-nginx.session-affinity" not in rules(sticky)


def test_tls_missing_is_an_error_and_ssl_redirect_false_a_warning() -> None:
    assert "ingress.tls-missing" in rules(ingress(annotations=GOOD_NGINX, tls=False))
    no_redirect = {**GOOD_NGINX, f"{NGINX}ssl-redirect": "false"}
    assert "ingress-nginx.https-redirect" in rules(ingress(annotations=no_redirect))


def test_wildcard_tls_covers_subdomains() -> None:
    obj = ingress(annotations=GOOD_NGINX)
    obj["spec"]["tls"] = [{"hosts": ["*.example.com"], "secretName": "wild"}]
    assert "ingress.tls-missing" not in rules(obj)


def test_nginx_inc_is_told_apart_by_its_annotations_and_needs_websocket_services() -> None:
    obj = ingress(
        annotations={"nginx.org/proxy-read-timeout": "1h", "nginx.org/proxy-send-timeout": "3600s"},
        paths=(("/", "web"), ("/ws", "chat")),
    )
    audit = audit_ingress(obj)
    assert audit.controller == "nginx-inc"
    error = next(f for f in audit.findings if f.rule == "nginx-inc.websocket-services")
    assert error.message.startswith("Service chat serves")
    assert error.fix == 'set nginx.org/websocket-services: "chat" on the Ingress'
    listed = dict(obj["metadata"]["annotations"], **{"nginx.org/websocket-services": "chat"})
    obj["metadata"]["annotations"] = listed
    assert rules(obj) == set()


def test_alb_idle_timeout_lives_in_load_balancer_attributes() -> None:
    key = "alb.ingress.kubernetes.io/"
    # An ALB with both listeners (the TLS hosts drive ACM discovery) redirecting to HTTPS.
    base = {
        f"{key}listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
        f"{key}ssl-redirect": "443",
    }
    assert "aws-alb.idle-timeout" in rules(ingress("alb", base))
    attrs = {
        **base,
        f"{key}load-balancer-attributes": (
            "routing.http2.enabled=true,idle_timeout.timeout_seconds=120"
        ),
    }
    found = audit_ingress(ingress("alb", attrs)).findings
    idle = next(f for f in found if f.rule == "aws-alb.idle-timeout")
    assert "routing.http2.enabled=true,idle_timeout.timeout_seconds=3600" in idle.fix
    good = {**base, f"{key}load-balancer-attributes": "idle_timeout.timeout_seconds=3600"}
    assert rules(ingress("alb", good)) == set()


def test_alb_nonexistent_annotation_and_certificate_arn_tls() -> None:
    key = "alb.ingress.kubernetes.io/"
    obj = ingress(
        "alb",
        {f"{key}connection-idle-timeout": "3600", f"{key}certificate-arn": "arn:aws:acm:x"},
        tls=False,
    )
    found = rules(obj)
    assert "aws-alb.unknown-annotation" in found
    # A certificate ARN without listen-ports makes an HTTPS:443-only ALB: nothing is served
    # over http, so there is nothing to redirect, and TLS is there without spec.tls.
    assert "aws-alb.https-redirect" not in found
    assert "ingress.tls-missing" not in found


def test_gke_backend_config_timeout_through_the_service() -> None:
    # GKE serves only the kubernetes.io/ingress.class annotation, not spec.ingressClassName.
    obj = ingress(
        None,
        {
            "kubernetes.io/ingress.class": "gce",
            "networking.gke.io/v1beta1.FrontendConfig": "redirect",
        },
    )
    assert "gke.backend-timeout-unknown" in rules(obj)
    plain = Related(services={("prod", "chat"): service("chat", {})})
    assert "gke.backend-timeout" in rules(obj, plain)
    attached = service("chat", {"cloud.google.com/backend-config": '{"default": "ws"}'})
    short = {"kind": "BackendConfig", "spec": {"timeoutSec": 30}}
    long = {"kind": "BackendConfig", "spec": {"timeoutSec": 86400}}
    with_short = Related(
        services={("prod", "chat"): attached}, backend_configs={("prod", "ws"): short}
    )
    with_long = Related(
        services={("prod", "chat"): attached}, backend_configs={("prod", "ws"): long}
    )
    short_finding = next(
        f for f in audit_ingress(obj, with_short).findings if f.rule == "gke.backend-timeout"
    )
    assert "maximum connection lifetime" in short_finding.message
    assert rules(obj, with_long) == set()


def test_haproxy_ingress_tunnel_timeout_default_is_one_hour() -> None:
    assert rules(ingress("haproxy")) == set()
    short = {"haproxy-ingress.github.io/timeout-tunnel": "30m"}
    assert "haproxy-ingress.timeout-tunnel" in rules(ingress("haproxy", short))
    # Its docs say a bare number is milliseconds; its parser ignores it (1 h stays).
    bare = {"haproxy-ingress.github.io/timeout-tunnel": "3600"}
    assert "haproxy-ingress.timeout-tunnel-invalid" in rules(ingress("haproxy", bare))


def test_haproxy_technologies_ignores_tunnel_timeout_on_the_ingress() -> None:
    obj = ingress("haproxy", {"haproxy.org/timeout-tunnel": "2h"})
    audit = audit_ingress(obj)
    assert audit.controller == "haproxy-tech"
    assert "haproxy-tech.timeout-tunnel-on-ingress" in {f.rule for f in audit.findings}


def test_contour_websocket_routes_must_cover_the_path() -> None:
    obj = ingress("contour", paths=(("/", "web"), ("/ws", "chat")))
    found = audit_ingress(obj).findings
    error = next(f for f in found if f.rule == "contour.websocket-routes")
    assert error.severity is Severity.ERROR and "/ws" in error.message
    obj["metadata"]["annotations"] = {"projectcontour.io/websocket-routes": "/ws"}
    # Routed now; what is left is Envoy's 5 min stream idle timeout (no Contour config given).
    assert rules(obj) == {"contour.stream-idle-timeout"}


def test_kong_timeouts_are_read_from_the_service_in_milliseconds() -> None:
    redirect = {"konghq.com/https-redirect-status-code": "301"}
    obj = ingress("kong", {**redirect, "konghq.com/read-timeout": "3600000"})
    found = rules(obj, Related(services={("prod", "chat"): service("chat", {})}))
    assert {"kong.timeout-on-ingress", "kong.read-timeout"} <= found
    good = service(
        "chat", {"konghq.com/read-timeout": "3600000", "konghq.com/write-timeout": "3600000"}
    )
    assert rules(ingress("kong", redirect), Related(services={("prod", "chat"): good})) == set()


def test_azure_request_timeout_defaults_to_30_seconds() -> None:
    prefix = "appgw.ingress.kubernetes.io/"
    found = audit_ingress(ingress("azure-application-gateway", {f"{prefix}ssl-redirect": "true"}))
    timeout = next(f for f in found.findings if f.rule == "azure-agic.request-timeout")
    assert "default 30 s" in timeout.message


def test_traefik_gets_an_info_and_foreign_nginx_annotations_are_flagged() -> None:
    obj = ingress("traefik", {f"{NGINX}proxy-read-timeout": "3600"})
    audit = audit_ingress(obj)
    assert {f.rule: f.severity for f in audit.findings} == {
        "traefik.entrypoint-timeouts": Severity.INFO,
        "ingress.foreign-annotation": Severity.WARNING,
    }


def test_ingress_class_object_decides_the_controller() -> None:
    ingress_class = {
        "kind": "IngressClass",
        "metadata": {"name": "internal"},
        "spec": {"controller": "projectcontour.io/ingress-controller"},
    }
    audit = audit_ingress(ingress("internal"), Related(ingress_classes={"internal": ingress_class}))
    assert audit.controller == "contour"
    assert "IngressClass internal" in audit.detected_by


def test_unknown_controller_runs_generic_rules_only() -> None:
    audit = audit_ingress(ingress(None, tls=False))
    assert {f.rule for f in audit.findings} == {"ingress.tls-missing", "ingress.unknown-controller"}


def test_explicit_websocket_paths_annotation_narrows_the_paths() -> None:
    obj = ingress(
        "contour", {"wsaudit.io/websocket-paths": "/live"}, paths=(("/", "web"), ("/live", "feed"))
    )
    error = next(f for f in audit_ingress(obj).findings if f.rule == "contour.websocket-routes")
    assert "/live" in error.message and "path /," not in error.message


def test_malformed_ingress_is_a_manifest_error_naming_the_field() -> None:
    obj = ingress()
    obj["spec"]["rules"] = "nope"
    with pytest.raises(ManifestError, match=r"spec\.rules must be a list"):
        audit_ingress(obj)


annotation_keys = st.one_of(
    st.sampled_from(
        [
            f"{NGINX}proxy-read-timeout",
            f"{NGINX}proxy-http-version",
            f"{NGINX}server-snippet",
            "nginx.org/websocket-services",
            "alb.ingress.kubernetes.io/load-balancer-attributes",
            "haproxy-ingress.github.io/timeout-tunnel",
            "projectcontour.io/websocket-routes",
            "konghq.com/read-timeout",
            "appgw.ingress.kubernetes.io/request-timeout",
            "wsaudit.io/websocket-paths",
            "kubernetes.io/ingress.class",
        ]
    ),
    st.text(max_size=40),
)


@given(
    st.sampled_from([None, "nginx", "alb", "gce", "haproxy", "contour", "kong", "traefik", "x"]),
    st.dictionaries(annotation_keys, st.text(max_size=60), max_size=8),
)
def test_any_annotation_map_is_judged_never_raises(
    class_name: str | None, annotations: dict[str, str]
) -> None:
    audit = audit_ingress(ingress(class_name, annotations), Related())
    for finding in audit.findings:
        assert finding.rule.count(".") >= 1
        assert finding.message and finding.fix
        assert finding.object == "prod/chat"


def test_controllers_name_the_objects_the_operator_must_fetch() -> None:
    from wsaudit.audit import BY_ID, ObjectRef, ingress_view

    view = ingress_view(ingress("gce"))
    needs = BY_ID["gke"].needs
    assert needs is not None
    assert needs(view, Related()) == [ObjectRef("Service", "prod", "chat")]
    attached = service("chat", {"cloud.google.com/backend-config": '{"default": "ws"}'})
    with_service = Related().with_objects({ObjectRef("Service", "prod", "chat"): attached})
    assert needs(view, with_service) == [ObjectRef("BackendConfig", "prod", "ws")]
    config = {"kind": "BackendConfig", "spec": {"timeoutSec": 30}}
    complete = with_service.with_objects({ObjectRef("BackendConfig", "prod", "ws"): config})
    assert needs(view, complete) == []
    assert "gke.backend-timeout" in rules(ingress("gce"), complete)
    kong = BY_ID["kong"].needs
    assert kong is not None
    assert kong(ingress_view(ingress("kong")), Related()) == [ObjectRef("Service", "prod", "chat")]
    assert BY_ID["ingress-nginx"].needs is None

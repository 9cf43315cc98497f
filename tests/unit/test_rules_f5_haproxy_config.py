"""F5 NGINX snippets and ConfigMap proxy-read-timeout, HAProxy Ingress's global ConfigMap
timeout-tunnel: each rule fires on the misconfiguration and is quiet on the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from support import manifests
from support.fixes import apply_changes
from wsaudit.audit import IngressAudit, Related, Severity, audit_ingress
from wsaudit.audit.controllers.nginx_inc import config_time, nginx_time

N = "nginx.org/"
HI = "haproxy-ingress.github.io/"
F5_GOOD = {f"{N}websocket-services": "chat", f"{N}proxy-read-timeout": "1h"}


def f5(annotations: dict[str, str]) -> dict[str, Any]:
    return manifests.ingress("nginx", {**F5_GOOD, **annotations})


def haproxy(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return manifests.ingress("haproxy", {f"{HI}ssl-redirect": "true", **(annotations or {})})


def config_map(name: str, data: dict[str, str], namespace: str = "ingress") -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def related(*config_maps: dict[str, Any]) -> Related:
    return Related(
        config_maps={(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in config_maps}
    )


def rules(audit: IngressAudit) -> dict[str, Severity]:
    return {f.rule: f.severity for f in audit.findings}


def fixed(obj: dict[str, Any], audit: IngressAudit, *extra: dict[str, Any]) -> IngressAudit:
    """The audit after applying every change, with the ConfigMaps they touch."""
    objects = [copy.deepcopy(obj), *copy.deepcopy(list(extra))]
    apply_changes(objects, audit.findings, ("prod", "chat"))
    ingress = objects[0]
    maps = [o for o in objects[1:] if o.get("kind") == "ConfigMap"]
    for m in maps:
        m["metadata"].setdefault("namespace", "prod")
    return audit_ingress(ingress, related(*maps))


def test_f5_good_ingress_has_no_snippet_findings() -> None:
    assert not [r for r in rules(audit_ingress(f5({}))) if "snippet" in r]


@pytest.mark.parametrize(
    "snippet",
    [
        "proxy_read_timeout 3600s;",
        "proxy_http_version 1.1;",
        "add_header X-Test 1;\nproxy_send_timeout 60s;",
        "proxy_connect_timeout 5s;",
        "client_max_body_size 10m;",
        "proxy_buffering off;",
    ],
)
def test_location_snippet_repeating_a_template_directive_is_an_error(snippet: str) -> None:
    obj = f5({f"{N}location-snippets": snippet})
    audit = audit_ingress(obj)
    assert rules(audit)["nginx-inc.snippet-duplicate-directive"] is Severity.ERROR
    assert rules(audit)["nginx-inc.snippets-disabled"] is Severity.INFO
    after = rules(fixed(obj, audit))
    assert "nginx-inc.snippet-duplicate-directive" not in after
    assert not [r for r, s in after.items() if s >= Severity.WARNING]


def test_the_duplicate_fix_moves_the_value_to_the_annotation() -> None:
    obj = manifests.ingress(
        "nginx",
        {
            f"{N}websocket-services": "chat",
            f"{N}location-snippets": "add_header X-A 1;\nproxy_read_timeout 7200s;\n",
        },
    )
    audit = audit_ingress(obj)
    objects = [copy.deepcopy(obj)]
    apply_changes(objects, audit.findings, ("prod", "chat"))
    annotations = objects[0]["metadata"]["annotations"]
    assert annotations[f"{N}location-snippets"] == "add_header X-A 1;"
    assert annotations[f"{N}proxy-read-timeout"] == "7200s"


def test_buffer_directives_are_duplicate_only_when_their_annotation_is_set() -> None:
    snippet = {f"{N}location-snippets": "proxy_buffers 8 4k;"}
    assert "nginx-inc.snippet-duplicate-directive" not in rules(audit_ingress(f5(snippet)))
    both = f5({**snippet, f"{N}proxy-buffers": "8 4k"})
    assert "nginx-inc.snippet-duplicate-directive" in rules(audit_ingress(both))
    cm = related(config_map("nginx-config", {"proxy-buffers": "8 4k"}))
    assert "nginx-inc.snippet-duplicate-directive" in rules(audit_ingress(f5(snippet), cm))


def test_directives_inside_a_nested_block_and_grpc_locations_are_not_duplicates() -> None:
    nested = f5({f"{N}location-snippets": "location /x { proxy_read_timeout 5s; }"})
    assert "nginx-inc.snippet-duplicate-directive" not in rules(audit_ingress(nested))
    grpc = f5({f"{N}grpc-services": "chat", f"{N}location-snippets": "proxy_read_timeout 5s;"})
    assert "nginx-inc.snippet-duplicate-directive" not in rules(audit_ingress(grpc))


def test_upgrade_headers_in_a_location_snippet_are_a_second_header() -> None:
    obj = f5({f"{N}location-snippets": 'proxy_set_header Connection "upgrade";'})
    audit = audit_ingress(obj)
    assert rules(audit)["nginx-inc.snippet-header-added"] is Severity.INFO
    assert "nginx-inc.snippet-duplicate-directive" not in rules(audit)
    assert "nginx-inc.snippet-header-added" not in rules(fixed(obj, audit))


def test_server_snippet_timeouts_are_shadowed_by_every_location() -> None:
    obj = manifests.ingress(
        "nginx",
        {
            f"{N}websocket-services": "chat",
            f"{N}server-snippets": "proxy_read_timeout 3600s;\nlocation /r { return 302 /; }",
        },
    )
    audit = audit_ingress(obj)
    found = rules(audit)
    assert found["nginx-inc.server-snippet-shadowed"] is Severity.INFO
    assert "nginx-inc.snippet-duplicate-directive" not in found
    assert found["nginx-inc.proxy-read-timeout"] is Severity.WARNING  # the 60 s default holds
    after = rules(fixed(obj, audit))
    assert "nginx-inc.server-snippet-shadowed" not in after
    assert "nginx-inc.proxy-read-timeout" not in after


def test_snippets_disabled_is_said_only_with_snippets() -> None:
    assert "nginx-inc.snippets-disabled" not in rules(audit_ingress(f5({})))
    with_snippet = f5({f"{N}server-snippets": "add_header X-A 1;"})
    assert rules(audit_ingress(with_snippet))["nginx-inc.snippets-disabled"] is Severity.INFO


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600.0),
        ("3600s", 3600.0),
        ("1h", 3600.0),
        ("1h 30m", 5400.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1w", 604800.0),
        ("1.5h", None),
        ("1H", None),
        ("1M", None),
        ("1y", None),
        ("30m 1h", None),
        ("", None),
        ("s", None),
    ],
)
def test_nginx_time_follows_ngx_parse_time_for_msec_directives(
    text: str, seconds: float | None
) -> None:
    assert nginx_time(text) == seconds


def test_a_configmap_time_with_a_space_is_two_arguments_to_nginx() -> None:
    assert nginx_time("1h 30m") == 5400.0
    assert config_time("1h 30m") is None
    assert config_time("1h30m") == 5400.0


@pytest.mark.parametrize("name", ["nginx-config", "nginx-ingress", "my-release-nginx-ingress"])
def test_f5_configmap_read_timeout_applies_and_the_annotation_wins(name: str) -> None:
    high = related(config_map(name, {"proxy-read-timeout": "1h"}))
    plain = manifests.ingress("nginx", {f"{N}websocket-services": "chat"})
    audit = audit_ingress(plain, high)
    assert "nginx-inc.proxy-read-timeout" not in rules(audit)
    assert audit.tightest("idle").seconds == 3600  # type: ignore[union-attr]
    assert name in audit.tightest("idle").setting  # type: ignore[union-attr]
    low = related(config_map(name, {"proxy-read-timeout": "30s"}))
    assert "nginx-inc.proxy-read-timeout" in rules(audit_ingress(plain, low))
    assert "nginx-inc.proxy-read-timeout" not in rules(audit_ingress(f5({}), low))
    assert audit_ingress(f5({}), low).tightest("idle").seconds == 3600  # type: ignore[union-attr]


def test_f5_invalid_annotation_falls_back_to_the_configmap() -> None:
    cm = related(config_map("nginx-config", {"proxy-read-timeout": "2h"}))
    audit = audit_ingress(f5({f"{N}proxy-read-timeout": "1.5h"}), cm)
    finding = next(f for f in audit.findings if f.rule == "nginx-inc.proxy-read-timeout-invalid")
    assert "nginx-config" in finding.message
    assert audit.tightest("idle").seconds == 7200  # type: ignore[union-attr]


def test_f5_configmap_value_nginx_rejects_is_a_warning_with_a_configmap_fix() -> None:
    cm = config_map("nginx-config", {"proxy-read-timeout": "1H"})
    plain = manifests.ingress("nginx", {f"{N}websocket-services": "chat"})
    audit = audit_ingress(plain, related(cm))
    found = rules(audit)
    assert found["nginx-inc.config-proxy-read-timeout-invalid"] is Severity.WARNING
    finding = next(f for f in audit.findings if f.rule.startswith("nginx-inc.config-"))
    assert [(c.kind, c.name, c.namespace, c.value) for c in finding.changes] == [
        ("ConfigMap", "nginx-config", "ingress", "3600s")
    ]
    assert not [r for r, s in rules(fixed(plain, audit, cm)).items() if s >= Severity.WARNING]
    # A valid annotation covers this Ingress's locations.
    assert "nginx-inc.config-proxy-read-timeout-invalid" not in rules(
        audit_ingress(f5({}), related(cm))
    )


def test_haproxy_global_timeout_tunnel_applies_and_the_annotation_wins() -> None:
    low = related(config_map("haproxy-ingress", {"timeout-tunnel": "30s"}))
    audit = audit_ingress(haproxy(), low)
    assert rules(audit)["haproxy-ingress.timeout-tunnel"] is Severity.WARNING
    assert audit.tightest("idle").seconds == 30  # type: ignore[union-attr]
    fixed_audit = audit_ingress(haproxy({f"{HI}timeout-tunnel": "1h"}), low)
    assert "haproxy-ingress.timeout-tunnel" not in rules(fixed_audit)
    assert fixed_audit.tightest("idle").seconds == 3600  # type: ignore[union-attr]
    high = related(config_map("haproxy-ingress", {"timeout-tunnel": "2h"}))
    assert audit_ingress(haproxy(), high).tightest("idle").seconds == 7200  # type: ignore[union-attr]
    # An annotation the controller ignores leaves the global value in force.
    ignored = audit_ingress(haproxy({f"{HI}timeout-tunnel": "7200"}), high)
    assert "haproxy-ingress.timeout-tunnel-invalid" in rules(ignored)
    assert ignored.tightest("idle").seconds == 7200  # type: ignore[union-attr]


@pytest.mark.parametrize("value", ["3600", "1h30m", "1 h", ""])
def test_haproxy_invalid_global_timeout_tunnel_leaves_client_and_server(value: str) -> None:
    cm = config_map("haproxy-ingress", {"timeout-tunnel": value})
    obj = haproxy()
    audit = audit_ingress(obj, related(cm))
    found = rules(audit)
    assert found["haproxy-ingress.config-timeout-tunnel-invalid"] is Severity.WARNING
    assert found["haproxy-ingress.timeout-tunnel"] is Severity.WARNING
    assert audit.tightest("idle").seconds == 50  # type: ignore[union-attr]
    objects = [copy.deepcopy(obj), copy.deepcopy(cm)]
    apply_changes(objects, audit.findings, ("prod", "feed"))
    after = audit_ingress(objects[0], related(objects[1]))
    assert not [r for r, s in rules(after).items() if s >= Severity.WARNING]


def test_haproxy_invalid_global_tunnel_uses_the_shorter_of_client_and_server() -> None:
    cm = related(
        config_map(
            "haproxy-ingress",
            {"timeout-tunnel": "1 h", "timeout-client": "2h", "timeout-server": "10m"},
        )
    )
    assert audit_ingress(haproxy(), cm).tightest("idle").seconds == 600  # type: ignore[union-attr]
    server = audit_ingress(haproxy({f"{HI}timeout-server": "20m"}), cm)
    assert server.tightest("idle").seconds == 1200  # type: ignore[union-attr]


def test_haproxy_other_configmap_names_are_not_read() -> None:
    other = related(config_map("haproxy-kubernetes-ingress", {"timeout-tunnel": "30s"}))
    assert "haproxy-ingress.timeout-tunnel" not in rules(audit_ingress(haproxy(), other))

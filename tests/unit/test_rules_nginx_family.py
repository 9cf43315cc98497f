"""ingress-nginx, F5 NGINX and Kong rules: each fires on its misconfiguration and is quiet on
the fix."""

from __future__ import annotations

from typing import Any

import pytest

from wsaudit.audit import Related, Severity, audit_ingress
from wsaudit.audit.controllers.nginx_inc import parse_time

N = "nginx.ingress.kubernetes.io/"
GOOD = {f"{N}proxy-read-timeout": "3600"}


def ingress(
    annotations: dict[str, str],
    class_name: str = "nginx",
    path: str = "/ws",
    tls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "kind": "Ingress",
        "metadata": {"name": "chat", "namespace": "prod", "annotations": annotations},
        "spec": {
            "ingressClassName": class_name,
            "tls": [{"hosts": ["chat.example.com"], "secretName": "chat-tls"}]
            if tls is None
            else tls,
            "rules": [
                {
                    "host": "chat.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "chat", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def config_map(data: dict[str, str], name: str = "ingress-nginx-controller") -> Related:
    return Related(config_maps={("ingress-nginx", name): {"kind": "ConfigMap", "data": data}})


def found(obj: dict[str, Any], related: Related | None = None) -> dict[str, Severity]:
    return {f.rule: f.severity for f in audit_ingress(obj, related).findings}


def test_send_timeout_is_info_only_and_read_timeout_a_warning() -> None:
    short = found(ingress({f"{N}proxy-read-timeout": "3600", f"{N}proxy-send-timeout": "5"}))
    assert short["ingress-nginx.proxy-send-timeout"] is Severity.INFO
    assert "ingress-nginx.proxy-read-timeout" not in short
    assert found(ingress({}))["ingress-nginx.proxy-read-timeout"] is Severity.WARNING


def test_configmap_read_timeout_applies_and_the_annotation_wins() -> None:
    cm = config_map({"proxy-read-timeout": "3600"})
    assert "ingress-nginx.proxy-read-timeout" not in found(ingress({}), cm)
    low = found(ingress({f"{N}proxy-read-timeout": "30"}), cm)
    assert "ingress-nginx.proxy-read-timeout" in low
    assert "ingress-nginx.proxy-read-timeout" not in found(
        ingress(GOOD), config_map({"proxy-read-timeout": "30"}, "nginx-configuration")
    )
    audit = audit_ingress(ingress({}), cm)
    assert audit.tightest("idle") is not None and audit.tightest("idle").seconds == 3600  # type: ignore[union-attr]


def test_connection_proxy_header_breaks_handshakes() -> None:
    assert (
        found(ingress({**GOOD, f"{N}connection-proxy-header": "keep-alive"}))[
            "ingress-nginx.connection-proxy-header"
        ]
        is Severity.ERROR
    )
    assert "ingress-nginx.connection-proxy-header" not in found(ingress(GOOD))


@pytest.mark.parametrize("snippet", ["proxy_http_version 1.1;", "proxy_read_timeout 3600s;"])
def test_duplicate_directive_in_a_snippet_is_an_error_and_its_fix_moves_it(snippet: str) -> None:
    audit = audit_ingress(ingress({**GOOD, f"{N}configuration-snippet": snippet}))
    error = next(f for f in audit.findings if f.rule == "ingress-nginx.snippet-duplicate-directive")
    assert error.severity is Severity.ERROR
    assert "ingress-nginx.snippets-disabled" in found(
        ingress({**GOOD, f"{N}configuration-snippet": snippet})
    )
    allowed = config_map(
        {"allow-snippet-annotations": "true", "annotations-risk-level": "Critical"}
    )
    quiet = found(ingress({**GOOD, f"{N}configuration-snippet": "add_header X-A b;"}), allowed)
    assert "ingress-nginx.snippets-disabled" not in quiet
    assert "ingress-nginx.snippet-duplicate-directive" not in quiet


def test_snippets_refused_when_allowed_but_risk_level_is_high() -> None:
    allow_only = config_map({"allow-snippet-annotations": "true"})
    finding = next(
        f
        for f in audit_ingress(
            ingress({**GOOD, f"{N}server-snippet": "x on;"}), allow_only
        ).findings
        if f.rule == "ingress-nginx.snippets-disabled"
    )
    assert (
        "too risky" in finding.message and "if this is the community controller" in finding.message
    )


def test_proxy_set_header_in_a_snippet_is_an_added_header_not_an_override() -> None:
    rules = found(ingress({**GOOD, f"{N}configuration-snippet": 'proxy_set_header Connection "";'}))
    assert rules["ingress-nginx.snippet-header-added"] is Severity.INFO
    assert "ingress-nginx.snippet-duplicate-directive" not in rules


def test_upstream_hash_by_is_valid_stickiness() -> None:
    assert "ingress-nginx.session-affinity" in found(ingress(GOOD, path="/socket.io"))
    hashed = {**GOOD, f"{N}upstream-hash-by": "$remote_addr"}
    assert "ingress-nginx.session-affinity" not in found(ingress(hashed, path="/socket.io"))


def test_worker_shutdown_timeout_judged_from_the_configmap() -> None:
    assert "ingress-nginx.worker-shutdown-timeout" not in found(ingress(GOOD))
    assert "ingress-nginx.worker-shutdown-timeout" in found(ingress(GOOD), config_map({}))
    long = config_map({"worker-shutdown-timeout": "3600s"})
    assert "ingress-nginx.worker-shutdown-timeout" not in found(ingress(GOOD), long)


def test_default_certificate_without_secret_name_or_forced_redirect() -> None:
    assert "ingress.tls-missing" in found(ingress(GOOD, tls=[]))
    forced = config_map({"force-ssl-redirect": "true"})
    assert "ingress.tls-missing" not in found(ingress(GOOD, tls=[]), forced)
    no_secret = [{"hosts": ["chat.example.com"]}]
    assert "ingress.tls-missing" not in found(ingress(GOOD, tls=no_secret))


def test_retired_is_worded_for_the_community_controller() -> None:
    retired = next(f for f in audit_ingress(ingress(GOOD)).findings if f.rule.endswith("retired"))
    assert retired.message.startswith("if this is the community controller")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3600", 3600),
        ("3600s", 3600),
        ("1h", 3600),
        ("1h 30m", 5400),
        ("2M", 60 * 86400),
        ("500ms", 0.5),
        ("1.5h", None),
        ("1H", None),
        ("30m1h", None),
        ("", None),
        (" 60s", 60),
    ],
)
def test_f5_parse_time_matches_its_regexp(value: str, seconds: float | None) -> None:
    assert parse_time(value) == seconds


def test_f5_rejected_time_falls_back_to_60s_and_ssl_redirect_keys() -> None:
    base = {"nginx.org/websocket-services": "chat"}
    invalid = found(ingress({**base, "nginx.org/proxy-read-timeout": "1.5h"}))
    assert invalid["nginx-inc.proxy-read-timeout-invalid"] is Severity.WARNING
    assert set(found(ingress({**base, "nginx.org/proxy-read-timeout": "1h"}))) <= {
        "nginx-inc.proxy-send-timeout"
    }
    good = {**base, "nginx.org/proxy-read-timeout": "1h"}
    legacy = found(ingress({**good, "ingress.kubernetes.io/ssl-redirect": "false"}))
    assert legacy["nginx-inc.https-redirect"] is Severity.WARNING
    wins = found(
        ingress(
            {
                **good,
                "ingress.kubernetes.io/ssl-redirect": "false",
                "nginx.org/ssl-redirect": "true",
            }
        )
    )
    assert "nginx-inc.https-redirect" not in wins
    assert wins["nginx-inc.legacy-ssl-redirect"] is Severity.WARNING
    assert "nginx-inc.https-redirect" in found(ingress({**good, "nginx.org/ssl-redirect": "false"}))


def test_kong_read_timeout_on_the_service_and_write_timeout_info() -> None:
    redirect = {"konghq.com/https-redirect-status-code": "301", "konghq.com/protocols": "https"}
    svc = {"kind": "Service", "metadata": {"name": "chat", "namespace": "prod", "annotations": {}}}
    rules = found(ingress(redirect, "kong"), Related(services={("prod", "chat"): svc}))
    assert rules["kong.read-timeout"] is Severity.WARNING
    assert "kong.write-timeout" not in rules  # the default needs no word
    svc["metadata"]["annotations"] = {  # type: ignore[index]
        "konghq.com/read-timeout": "3600000",
        "konghq.com/write-timeout": "60000",
    }
    rules = found(ingress(redirect, "kong"), Related(services={("prod", "chat"): svc}))
    assert "kong.read-timeout" not in rules
    assert set(rules) == {"kong.write-timeout"}
    assert rules["kong.write-timeout"] is Severity.INFO
    assert "kong.https-redirect" in found(
        ingress({}, "kong"), Related(services={("prod", "chat"): svc})
    )

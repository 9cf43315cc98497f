"""F5 NGINX Ingress Controller's snippets and ConfigMap time, checked with `nginx -t` on
the location its template writes (nginx/kubernetes-ingress
internal/configs/version1/nginx.ingress.tmpl:346-386 @0eb3072d14f0: proxy_http_version, the
WebSocket headers for nginx.org/websocket-services, the location snippet, then the proxy
timeouts and proxy_buffering), as the controller's reload would:

- a directive the template writes, repeated in nginx.org/location-snippets, fails `nginx -t`
  ("directive is duplicate"): wsaudit says nginx-inc.snippet-duplicate-directive;
- an Upgrade/Connection proxy_set_header in the snippet, or a location directive in
  nginx.org/server-snippets, is accepted (a second header; shadowed by the location);
- the ConfigMap's proxy-read-timeout, written unchecked, fails `nginx -t` when nginx does not
  read it as a time, a space included (the line is unquoted): wsaudit's config_time agrees
  with nginx on each value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from support import manifests
from support.nginx import nginx_config_test
from support.processes import free_port
from wsaudit.audit import Related, audit_ingress
from wsaudit.audit.controllers.nginx_inc import (
    LOCATION_DIRECTIVES,
    LOCATION_SNIPPETS,
    PREFIX,
    SERVER_SNIPPETS,
    config_time,
)

pytestmark = pytest.mark.integration

MAP = """
    map $http_upgrade $connection_upgrade {
        default upgrade;
        '' close;
    }
"""


def rendered_server(annotations: Mapping[str, str], read_timeout: str = "60s") -> str:
    """The server and location F5 NGINX writes for a websocket-services path (the lines
    that matter here, in the template's order)."""
    return f"""
        server {{
            listen 127.0.0.1:{free_port()};
            {annotations.get(SERVER_SNIPPETS, "")}
            location /ws {{
                proxy_http_version 1.1;
                proxy_set_header Upgrade $http_upgrade;
                proxy_set_header Connection $connection_upgrade;
                {annotations.get(LOCATION_SNIPPETS, "")}
                proxy_connect_timeout 60s;
                proxy_read_timeout {annotations.get(f"{PREFIX}proxy-read-timeout", read_timeout)};
                proxy_send_timeout 60s;
                client_max_body_size 1m;
                proxy_set_header Host $host;
                proxy_buffering on;
                proxy_pass http://127.0.0.1:9;
            }}
        }}
    """


def fired(annotations: Mapping[str, str], related: Related | None = None) -> set[str]:
    obj = manifests.ingress("nginx", {f"{PREFIX}websocket-services": "chat", **annotations})
    return {f.rule for f in audit_ingress(obj, related).findings}


@pytest.mark.parametrize(
    ("snippet", "accepted"),
    [
        ("proxy_read_timeout 3600s;", False),
        ("proxy_http_version 1.1;", False),
        ("proxy_send_timeout 3600s;", False),
        ("proxy_connect_timeout 5s;", False),
        ("client_max_body_size 10m;", False),
        ("proxy_buffering off;", False),
        ('proxy_set_header Connection "upgrade";', True),
        ("proxy_set_header Upgrade $http_upgrade;", True),
        ("add_header my-test-header test-value;", True),
    ],
)
def test_a_location_snippet_repeating_the_template_fails_nginx_t(
    tmp_path: Path, snippet: str, accepted: bool
) -> None:
    annotations = {f"{PREFIX}proxy-read-timeout": "3600s", LOCATION_SNIPPETS: snippet}
    ok, output = nginx_config_test(tmp_path, MAP + rendered_server(annotations))
    assert ok is accepted, output
    assert ("is duplicate" in output) is not accepted, output
    assert ("nginx-inc.snippet-duplicate-directive" in fired(annotations)) is not accepted


@pytest.mark.parametrize("directive", sorted(LOCATION_DIRECTIVES))
def test_every_always_written_directive_the_rule_names_is_in_the_rendered_location(
    tmp_path: Path, directive: str
) -> None:
    values = {"proxy_http_version": "1.1", "proxy_buffering": "on", "client_max_body_size": "1m"}
    line = f"{directive} {values.get(directive, '5s')};"
    annotations = {f"{PREFIX}proxy-read-timeout": "3600s", LOCATION_SNIPPETS: line}
    ok, output = nginx_config_test(tmp_path, MAP + rendered_server(annotations))
    assert not ok and f'"{directive}" directive is duplicate' in output, output


def test_server_snippet_timeouts_are_accepted_and_shadowed(tmp_path: Path) -> None:
    annotations = {
        SERVER_SNIPPETS: "proxy_read_timeout 3600s;\nproxy_http_version 1.1;\n"
        "location /r {\n    return 302 /ws;\n}"
    }
    ok, output = nginx_config_test(tmp_path, MAP + rendered_server(annotations))
    assert ok, output
    found = fired(annotations)
    assert "nginx-inc.server-snippet-shadowed" in found
    assert "nginx-inc.snippet-duplicate-directive" not in found


@pytest.mark.parametrize(
    "value",
    ["3600", "3600s", "1h", "1h 30m", "1h30m", "500ms", "1w", "1.5h", "1H", "1M", "1y", "30m1h"],
)
def test_configmap_read_timeout_nginx_t_and_config_time_agree(tmp_path: Path, value: str) -> None:
    ok, output = nginx_config_test(tmp_path, MAP + rendered_server({}, read_timeout=value))
    assert ok is (config_time(value) is not None), output
    config_map = {"kind": "ConfigMap", "data": {"proxy-read-timeout": value}}
    related = Related(config_maps={("nginx-ingress", "nginx-config"): config_map})
    assert ("nginx-inc.config-proxy-read-timeout-invalid" in fired({}, related)) is (not ok)

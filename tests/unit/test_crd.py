"""The CRD is generated from the models and checked in; both must agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from wsaudit.api.crd import crd_yaml, custom_resource_definition
from wsaudit.api.models import WebSocketEndpointSpec

CHECKED_IN = Path(__file__).resolve().parents[2] / "crds" / "wsaudit.io_websocketendpoints.yaml"


def test_checked_in_crd_matches_the_models() -> None:
    assert CHECKED_IN.read_text() == crd_yaml(), "run `make crds` and commit crds/"


def test_schema_is_structural() -> None:
    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            assert "$ref" not in node and "anyOf" not in node, path
            if "properties" in node:
                assert "additionalProperties" not in node, path
                assert node.get("type") == "object", path
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    version = custom_resource_definition()["spec"]["versions"][0]
    walk(version["schema"], "schema")
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:6] == ["URL", "Ready", "Secure", "Origin", "Last Probe", "Age"]


def spec(**changes: object) -> dict[str, object]:
    return {"url": "wss://a.example/ws", "origins": {"allowed": ["https://a.example"]}, **changes}


def test_defaults_match_the_design() -> None:
    parsed = WebSocketEndpointSpec.model_validate(spec())
    assert (parsed.interval_seconds, parsed.timeout_seconds) == (60, 10)
    assert parsed.tls.required and parsed.tls.min_certificate_days == 14
    assert parsed.origins.bypass_checks and not parsed.origins.require_origin_header


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "https://a.example"}, "url"),
        ({"interval": "5s"}, "interval"),
        ({"interval": "soon"}, "interval"),
        ({"timeout": "5m"}, "timeout"),
        ({"origins": {"allowed": []}}, "origins.allowed"),
        ({"origins": {"allowed": ["a.example"]}}, "origins.allowed.0"),
        ({"tls": {"minCertificateDays": -1}}, "tls.minCertificateDays"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_invalid_specs_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        WebSocketEndpointSpec.model_validate(spec(**changes))
    locations = {".".join(map(str, error["loc"])) for error in raised.value.errors()}
    assert field in locations


def test_resource_reference_is_generated_from_the_models() -> None:
    from wsaudit.api.reference import render

    document = (CHECKED_IN.parents[1] / "docs" / "resource.md").read_text()
    assert document == render(document), "run `make docs` and commit docs/resource.md"
    assert "`spec.origins.requireOriginHeader`" in document


def test_parse_spec_names_the_field_and_maps_every_setting_to_the_probe() -> None:
    from wsaudit.api.models import parse_spec
    from wsaudit.probe import ProbeConfigError

    with pytest.raises(ProbeConfigError) as raised:
        parse_spec(spec(origins={"allowed": ["app.example.com"]}))
    assert raised.value.field == "origins.allowed.0"
    parsed = parse_spec(
        spec(
            timeout="15s",
            origins={
                "allowed": ["https://a.example"],
                "rejected": ["https://b.example"],
                "bypassChecks": False,
                "requireOriginHeader": True,
            },
            tls={"required": False, "minCertificateDays": 3, "insecureSkipVerify": True},
            headers=[{"name": "X-Probe", "value": "1"}],
            subprotocols=["chat"],
        )
    )
    config = parsed.probe_config(token="t0k", ca_data="PEM")
    assert (config.url, config.timeout, config.bearer_token, config.ca_data) == (
        "wss://a.example/ws",
        15.0,
        "t0k",
        "PEM",
    )
    assert config.allowed_origins == ("https://a.example",)
    assert config.rejected_origins == ("https://b.example",)
    assert (config.bypass_checks, config.require_origin_header) == (False, True)
    assert (config.tls_required, config.min_certificate_days, config.insecure_skip_verify) == (
        False,
        3,
        True,
    )
    assert config.headers == (("X-Probe", "1"),) and config.subprotocols == ("chat",)

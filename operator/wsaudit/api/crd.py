"""The CustomResourceDefinition, generated from the pydantic models.

Kubernetes wants a structural OpenAPI v3 schema: no $ref, no anyOf for optional fields, a
type on every node. The models' JSON schema is rewritten into that form here, so the CRD
(and `kubectl explain`) can never drift from what the operator validates.
"""

from __future__ import annotations

from typing import Any

import yaml

from .models import (
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    WebSocketEndpointSpec,
    WebSocketEndpointStatus,
)

_KEPT = {
    "type",
    "description",
    "default",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "format",
    "items",
    "properties",
    "required",
    "x-kubernetes-validations",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "additionalProperties",
}


def _structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    if "anyOf" in node:  # Optional[X]: the field is simply not required
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        return _structural({**options[0], **rest}, defs)
    if "const" in node:
        node = {**node, "enum": [node["const"]]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEPT:
            continue
        if key == "properties":
            out[key] = {name: _structural(prop, defs) for name, prop in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            out[key] = _structural(value, defs)
        else:
            out[key] = value
    # Structural schemas forbid properties beside additionalProperties; unknown fields are
    # pruned (and reported by kubectl's field validation) instead.
    if out.get("x-kubernetes-preserve-unknown-fields") or out.get("additionalProperties") is False:
        out.pop("additionalProperties", None)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("default") is None:
        out.pop("default", None)
    return out


def _schema(model: type[WebSocketEndpointSpec] | type[WebSocketEndpointStatus]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def _condition_column(name: str, condition: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "string",
        "jsonPath": f'.status.conditions[?(@.type=="{condition}")].status',
    }


def custom_resource_definition() -> dict[str, Any]:
    spec_schema = _schema(WebSocketEndpointSpec)
    spec_schema["description"] = "What to probe and what to expect."
    status_schema = _schema(WebSocketEndpointStatus)
    status_schema["description"] = "The result of the last probe, as conditions and checks."
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/name": "wsaudit", "app.kubernetes.io/part-of": "wsaudit"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": SHORT_NAMES,
                "categories": CATEGORIES,
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "URL", "type": "string", "jsonPath": ".spec.url"},
                        _condition_column("Ready", "Ready"),
                        _condition_column("Secure", "Secure"),
                        _condition_column("Origin", "OriginEnforced"),
                        {"name": "Last Probe", "type": "date", "jsonPath": ".status.lastProbeTime"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                        {
                            "name": "Cause",
                            "type": "string",
                            "jsonPath": ".status.cause",
                            "priority": 1,
                        },
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A WebSocket endpoint that wsaudit probes: TLS, "
                            "the handshake with an allowed Origin, refusal of untrusted Origins "
                            "(Cross-Site WebSocket Hijacking), and the Ingress in front of it.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def crd_yaml() -> str:
    header = "# Generated by `wsaudit crd` from operator/wsaudit/api/models.py; do not edit.\n"
    body = yaml.dump(custom_resource_definition(), Dumper=_NoAliases, sort_keys=False, width=100)
    return header + body

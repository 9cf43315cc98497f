"""Applying findings' fixes (their `changes`) to manifests, as a user would, to audit again."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from wsaudit.audit import Change, Document, Finding

API_VERSIONS = {
    "Ingress": "networking.k8s.io/v1",
    "Service": "v1",
    "ConfigMap": "v1",
    "BackendConfig": "cloud.google.com/v1",
    "FrontendConfig": "networking.gke.io/v1beta1",
    "KongUpstreamPolicy": "configuration.konghq.com/v1beta1",
}


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    metadata = obj.get("metadata") or {}
    return (
        str(obj.get("kind")),
        str(metadata.get("namespace") or "default"),
        str(metadata.get("name") or ""),
    )


def _target(
    objects: list[dict[str, Any]], change: Change, ingress: tuple[str, str]
) -> dict[str, Any]:
    ingress_namespace, ingress_name = ingress
    namespace = change.namespace or ingress_namespace
    name = change.name or ingress_name
    for obj in objects:
        if _key(obj) == (change.kind, namespace, name):
            return obj
    created: dict[str, Any] = {
        "apiVersion": API_VERSIONS.get(change.kind, "v1"),
        "kind": change.kind,
        "metadata": {"name": name, "namespace": namespace},
    }
    objects.append(created)
    return created


def apply_changes(
    objects: list[dict[str, Any]], findings: Iterable[Finding], ingress: tuple[str, str]
) -> None:
    """Applies every change of `findings` in place; `ingress` is (namespace, name) of the
    audited Ingress, which `Change.name == ""` designates."""
    for finding in findings:
        for change in finding.changes:
            node = _target(objects, change, ingress)
            *parents, leaf = change.path
            for part in parents:
                node = node.setdefault(part, {})
            if change.value is None:
                node.pop(leaf, None)
            else:
                node[leaf] = copy.deepcopy(change.value)


def documents_of(objects: list[dict[str, Any]], source: str) -> list[Document]:
    return [Document(source, index, obj) for index, obj in enumerate(objects, start=1)]

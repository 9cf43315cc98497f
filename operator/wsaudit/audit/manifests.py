"""Kubernetes YAML as `wsaudit lint` reads it: multi-document streams, `kind: List`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from .engine import IngressAudit, audit_ingress
from .model import AuditSettings, ManifestError, Related

AUDITED_KINDS = {"Ingress"}


class InputError(ValueError):
    """Input that is not readable Kubernetes YAML; the message names the source and document."""


@dataclass(frozen=True)
class Document:
    source: str
    index: int  # 1-based position in its stream
    obj: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.source}, document {self.index}"


def _flatten(obj: dict[str, Any], source: str, index: int) -> Iterator[Document]:
    if obj.get("kind") == "List" or str(obj.get("kind", "")).endswith("List"):
        items = obj.get("items")
        if not isinstance(items, list):
            raise InputError(f"{source}, document {index}: a List needs an items list")
        for item in items:
            if not isinstance(item, dict):
                raise InputError(f"{source}, document {index}: every List item must be a mapping")
            yield from _flatten(item, source, index)
    else:
        yield Document(source, index, obj)


def parse_stream(text: str, source: str) -> list[Document]:
    documents: list[Document] = []
    index = 0  # the last document read; a YAML error is in the one after it
    try:
        for index, obj in enumerate(yaml.safe_load_all(text), start=1):
            if obj is None:
                continue
            if not isinstance(obj, dict):
                raise InputError(
                    f"{source}, document {index}: expected a Kubernetes object (a mapping), "
                    f"got {type(obj).__name__}"
                )
            documents.extend(_flatten(obj, source, index))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(
            f"{source}, document {index + 1}{where}: invalid YAML: {problem}"
        ) from None
    return documents


def _key(doc: Document) -> tuple[str, str]:
    metadata = doc.obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return str(metadata.get("namespace") or "default"), str(metadata.get("name") or "")


def related_objects(documents: list[Document]) -> Related:
    services, backend_configs, classes, config_maps = {}, {}, {}, {}
    for doc in documents:
        kind = doc.obj.get("kind")
        if kind == "Service":
            services[_key(doc)] = doc.obj
        elif kind == "BackendConfig":
            backend_configs[_key(doc)] = doc.obj
        elif kind == "IngressClass":
            classes[_key(doc)[1]] = doc.obj
        elif kind == "ConfigMap":
            config_maps[_key(doc)] = doc.obj
    return Related(
        services=services,
        backend_configs=backend_configs,
        ingress_classes=classes,
        config_maps=config_maps,
    )


def audit_documents(documents: list[Document], settings: AuditSettings) -> list[IngressAudit]:
    """Audits every Ingress, using the Services, BackendConfigs and IngressClasses beside it."""
    related = related_objects(documents)
    audits = []
    for doc in documents:
        if doc.obj.get("kind") not in AUDITED_KINDS:
            continue
        try:
            audits.append(audit_ingress(doc.obj, related, settings))
        except ManifestError as exc:
            raise InputError(f"{doc.where}: Ingress {_key(doc)[1] or '(unnamed)'}: {exc}") from None
    return audits

"""Which controller serves an Ingress: IngressClass, class name, then annotations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .controller import Controller
from .model import IngressView, Related
from .registry import CONTROLLERS

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class Detection:
    controller: Controller | None
    reason: str


def _spec_controller(ingress_class: Mapping[str, Any]) -> str:
    spec = ingress_class.get("spec")
    return str(spec.get("controller", "")) if isinstance(spec, dict) else ""


def _serves(controller: Controller, value: str) -> bool:
    return any(
        value == name or value.startswith(f"{name}/")
        for name in controller.ingress_class_controllers
    )


def _by_ingress_class_controller(value: str) -> Controller | None:
    return next((c for c in CONTROLLERS if _serves(c, value)), None)


def _annotation_score(controller: Controller, annotations: Mapping[str, str]) -> int:
    return sum(
        1
        for key in annotations
        for prefix in controller.annotation_prefixes
        if key.startswith(prefix)
    )


def _best_by_annotations(
    candidates: tuple[Controller, ...], annotations: Mapping[str, str]
) -> Controller | None:
    scored = [(c, _annotation_score(c, annotations)) for c in candidates]
    best = max((score for _, score in scored), default=0)
    if not candidates:
        return None
    if best == 0:
        return candidates[0]
    return next(c for c, score in scored if score == best)


def _default_class(related: Related) -> tuple[str, Mapping[str, Any]] | None:
    for name, ingress_class in related.ingress_classes.items():
        metadata = ingress_class.get("metadata")
        annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
        if isinstance(annotations, dict) and annotations.get(DEFAULT_CLASS_ANNOTATION) == "true":
            return name, ingress_class
    return None


def detect(ingress: IngressView, related: Related) -> Detection:
    class_name = ingress.class_name
    ingress_class = related.ingress_classes.get(class_name) if class_name else None
    if class_name is None and (default := _default_class(related)) is not None:
        class_name, ingress_class = default
    if ingress_class is not None:
        value = _spec_controller(ingress_class)
        found = _by_ingress_class_controller(value)
        if found is not None:
            return Detection(found, f"IngressClass {class_name} (controller {value})")
        return Detection(None, f"IngressClass {class_name} names controller {value!r}")
    if class_name is not None:
        named = tuple(c for c in CONTROLLERS if class_name in c.class_names)
        found = _best_by_annotations(named, ingress.annotations)
        if found is not None:
            return Detection(found, f"ingress class {class_name!r}")
    annotated = tuple(c for c in CONTROLLERS if _annotation_score(c, ingress.annotations))
    if len(annotated) == 1:
        return Detection(annotated[0], f"its {annotated[0].annotation_prefixes[0]}* annotations")
    shown = repr(class_name) if class_name else "none"
    return Detection(None, f"ingress class {shown}, no IngressClass visible")

"""docs/resource.md's field tables, generated from the same schema as the CRD."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .crd import custom_resource_definition


def _type(node: dict[str, Any]) -> str:
    kind = str(node.get("type", "object"))
    if kind == "array":
        return f"[]{_type(node.get('items', {}))}"
    return kind


def _rows(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    required = set(node.get("required", []))
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}.{name}"
        default = json.dumps(child["default"]) if "default" in child else ""
        need = "yes" if name in required else ""
        description = " ".join(str(child.get("description", "")).split())
        limits = [
            f"{key} {child[key]}"
            for key in ("minimum", "maximum", "minItems", "maxItems", "maxLength")
            if key in child
        ]
        if "pattern" in child:
            limits.append(f"pattern `` {child['pattern']} ``")
        if limits:
            description = f"{description} ({', '.join(limits)})".strip()
        yield path, f"{_type(child)}{' (required)' if need else ''}", default, description
        target = child.get("items", child) if child.get("type") == "array" else child
        if target.get("properties"):
            yield from _rows(target, f"{path}[]" if child.get("type") == "array" else path)


def field_table(section: str) -> str:
    version = custom_resource_definition()["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]["properties"][section]
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    for path, kind, default, description in _rows(root, section):
        cell = description.replace("|", "\\|")
        lines.append(f"| `{path}` | {kind} | {f'`{default}`' if default else ''} | {cell} |")
    return "\n".join(lines)


def validation_rules() -> str:
    version = custom_resource_definition()["spec"]["versions"][0]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return "\n".join(
        f"- `{rule['rule']}`: {rule['message']}" for rule in spec["x-kubernetes-validations"]
    )


_SECTIONS = {
    "spec": lambda: field_table("spec"),
    "status": lambda: field_table("status"),
    "validations": validation_rules,
}


def render(document: str) -> str:
    """Replaces every `<!-- generated:NAME -->...<!-- /generated -->` block with its table."""
    out, rest = [], document
    while (start := rest.find("<!-- generated:")) != -1:
        name_end = rest.index("-->", start)
        name = rest[start + len("<!-- generated:") : name_end].strip()
        end = rest.index("<!-- /generated -->", name_end)
        out.append(rest[: name_end + 3])
        out.append(f"\n{_SECTIONS[name]()}\n")
        rest = rest[end:]
    out.append(rest)
    return "".join(out)


if __name__ == "__main__":
    import sys

    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render(text))

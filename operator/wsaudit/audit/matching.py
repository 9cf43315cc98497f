"""Which Ingress path serves a URL, with the Ingress API's own semantics: pure functions.

From the Ingress specification (networking.k8s.io/v1, kubernetes.io/docs/concepts/
services-networking/ingress/#path-types and #hostname-wildcards):
- `Exact` matches the URL path exactly (case-sensitive).
- `Prefix` matches element by element on `/`: `/ws` matches `/ws` and `/ws/room`, not `/wsx`;
  a trailing `/` is ignored; `/` matches every path.
- `ImplementationSpecific` is up to the controller; it is matched here as `Prefix`, what
  most controllers do for a plain path.
- A rule's `host` matches the URL's host exactly; `*.example.com` matches exactly one more
  label (`a.example.com`, not `example.com` or `a.b.example.com`); a rule without `host`
  matches every host.
- When several paths match, the longest wins, and `Exact` wins a tie; an exact host wins
  over a wildcard, and a wildcard over a rule without host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Match:
    """How well a rule path matches; greater is better."""

    host_rank: int  # 2 exact host, 1 wildcard, 0 no host
    length: int  # the matched path's length
    exact: bool


def host_matches(rule_host: str | None, host: str) -> int | None:
    """The rank of a rule's host for `host` (2 exact, 1 wildcard, 0 any), None: no match."""
    if not rule_host:
        return 0
    rule_host, host = rule_host.lower().rstrip("."), host.lower().rstrip(".")
    if rule_host.startswith("*."):
        suffix = rule_host[1:]  # ".example.com"
        first, dot, rest = host.partition(".")
        return 1 if first and dot and f".{rest}" == suffix else None
    return 2 if rule_host == host else None


def path_matches(path_type: str, rule_path: str, path: str) -> bool:
    if path_type == "Exact":
        return rule_path == path
    wanted = [part for part in rule_path.split("/") if part]
    given = [part for part in path.split("/") if part]
    return given[: len(wanted)] == wanted


def rule_match(
    rule: Mapping[str, Any], item: Mapping[str, Any], host: str, path: str
) -> Match | None:
    """How `item` (one of a rule's http.paths) matches host and path, or None."""
    rank = host_matches(str(rule.get("host") or ""), host)
    if rank is None:
        return None
    rule_path = str(item.get("path") or "/")
    path_type = str(item.get("pathType") or "ImplementationSpecific")
    if not path_matches(path_type, rule_path, path or "/"):
        return None
    return Match(rank, len(rule_path.rstrip("/")), path_type == "Exact")


def best_match(
    ingresses: Iterable[tuple[str, Mapping[str, Any]]], host: str, path: str
) -> tuple[str, Match] | None:
    """The (name, match) of the Ingress whose rule serves host and path best, if any."""
    best: tuple[str, Match] | None = None
    for name, body in ingresses:
        spec = body.get("spec")
        rules = spec.get("rules") if isinstance(spec, Mapping) else None
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, Mapping):
                continue
            http = rule.get("http")
            items = http.get("paths") if isinstance(http, Mapping) else None
            for item in items if isinstance(items, list) else []:
                if not isinstance(item, Mapping):
                    continue
                found = rule_match(rule, item, host, path)
                if found is not None and (best is None or found > best[1]):
                    best = (name, found)
    return best

"""Ingress matching as the API specifies it (the path-types and hostname-wildcards tables of
kubernetes.io/docs/concepts/services-networking/ingress/)."""

from __future__ import annotations

from typing import Any

import pytest

from wsaudit.audit.matching import best_match, host_matches, path_matches


@pytest.mark.parametrize(
    ("path_type", "rule_path", "path", "matches"),
    [
        # The documentation's examples table.
        ("Prefix", "/", "/anything", True),
        ("Exact", "/foo", "/foo", True),
        ("Exact", "/foo", "/bar", False),
        ("Exact", "/foo", "/foo/", False),
        ("Exact", "/foo/", "/foo", False),
        ("Prefix", "/foo", "/foo", True),
        ("Prefix", "/foo", "/foo/", True),
        ("Prefix", "/foo/", "/foo", True),
        ("Prefix", "/foo/", "/foo/", True),
        ("Prefix", "/aaa/bb", "/aaa/bbb", False),
        ("Prefix", "/aaa/bbb", "/aaa/bbb", True),
        ("Prefix", "/aaa/bbb/", "/aaa/bbb", True),
        ("Prefix", "/aaa/bbb", "/aaa/bbb/", True),
        ("Prefix", "/aaa/bbb", "/aaa/bbb/ccc", True),
        ("Prefix", "/aaa/bbb", "/aaa/bbbxyz", False),
        # What the old string prefix got wrong.
        ("Prefix", "/ws", "/wsx", False),
        ("Exact", "/ws", "/ws/room", False),
        ("ImplementationSpecific", "/ws", "/ws/room", True),
    ],
)
def test_path_types(path_type: str, rule_path: str, path: str, matches: bool) -> None:
    assert path_matches(path_type, rule_path, path) is matches


@pytest.mark.parametrize(
    ("rule_host", "host", "rank"),
    [
        ("foo.bar.com", "foo.bar.com", 2),
        ("foo.bar.com", "baz.bar.com", None),
        ("*.foo.com", "bar.foo.com", 1),
        ("*.foo.com", "baz.bar.foo.com", None),
        ("*.foo.com", "foo.com", None),
        ("Foo.Bar.com", "foo.bar.com", 2),
        (None, "anything.example", 0),
    ],
)
def test_hosts_and_wildcards(rule_host: str | None, host: str, rank: int | None) -> None:
    assert host_matches(rule_host, host) == rank


def ingress(*rules: tuple[str | None, str, str]) -> dict[str, Any]:
    return {
        "spec": {
            "rules": [
                {
                    **({"host": host} if host else {}),
                    "http": {"paths": [{"path": path, "pathType": kind}]},
                }
                for host, path, kind in rules
            ]
        }
    }


def test_the_longest_path_and_the_most_specific_host_win() -> None:
    candidates = [
        ("catch-all", ingress((None, "/", "Prefix"))),
        ("wildcard", ingress(("*.example.com", "/ws", "Prefix"))),
        ("exact-host", ingress(("chat.example.com", "/ws", "Prefix"))),
        ("room", ingress(("chat.example.com", "/ws/room", "Prefix"))),
    ]
    assert best_match(candidates, "chat.example.com", "/ws/room/1")[0] == "room"  # type: ignore[index]
    assert best_match(candidates, "chat.example.com", "/ws")[0] == "exact-host"  # type: ignore[index]
    assert best_match(candidates, "other.example.com", "/ws")[0] == "wildcard"  # type: ignore[index]
    assert best_match(candidates, "elsewhere.test", "/ws")[0] == "catch-all"  # type: ignore[index]
    assert best_match(candidates[1:], "chat.example.com", "/wsx") is None


def test_exact_wins_a_tie_and_malformed_bodies_are_skipped() -> None:
    candidates = [
        ("prefix", ingress(("chat.example.com", "/ws", "Prefix"))),
        ("exact", ingress(("chat.example.com", "/ws", "Exact"))),
        ("broken", {"spec": {"rules": ["not a rule", {"http": {"paths": [3]}}]}}),
    ]
    assert best_match(candidates, "chat.example.com", "/ws")[0] == "exact"  # type: ignore[index]

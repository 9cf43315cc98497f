"""The webhook's pure decisions: which Secret references the requester must be allowed to
get, who the requester is, and the one read budget of an admission request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wsaudit.api.models import parse_spec
from wsaudit.controller.admission import references_to_check
from wsaudit.controller.budget import ReadBudget
from wsaudit.controller.kube import Requester

SPEC: dict[str, Any] = {
    "url": "wss://chat.example.com/ws",
    "origins": {"allowed": ["https://app.example.com"]},
    "auth": {"tokenSecretRef": {"name": "probe-token", "key": "token"}},
    "tls": {"caSecretRef": {"name": "probe-ca", "key": "ca.crt"}},
}


def fields(spec: dict[str, Any], old: dict[str, Any] | None) -> dict[str, str]:
    refs = references_to_check(parse_spec(spec), spec, old)
    return {field: ref.name for field, ref in refs.items()}


def test_every_reference_is_checked_on_create() -> None:
    assert fields(SPEC, None) == {
        "spec.auth.tokenSecretRef": "probe-token",
        "spec.tls.caSecretRef": "probe-ca",
    }


def test_a_new_url_checks_the_unchanged_references_again() -> None:
    moved = {**SPEC, "url": "wss://attacker.example.net/"}
    assert set(fields(moved, SPEC)) == {"spec.auth.tokenSecretRef", "spec.tls.caSecretRef"}


def test_a_metadata_only_update_checks_nothing() -> None:
    assert fields(SPEC, dict(SPEC)) == {}


def test_an_endpoint_without_secrets_checks_nothing() -> None:
    plain = {"url": "wss://chat.example.com/ws", "origins": SPEC["origins"]}
    assert fields(plain, None) == {}


def test_the_requester_keeps_groups_uid_and_extra() -> None:
    requester = Requester.from_user_info(
        {
            "username": "alice",
            "uid": "42",
            "groups": ["team-a", "system:authenticated"],
            "extra": {"scopes.example.com": ["read", "write"]},
        }
    )
    assert requester == Requester(
        "alice", "42", ("team-a", "system:authenticated"), {"scopes.example.com": ("read", "write")}
    )


async def test_reads_that_stall_share_one_budget_and_are_named() -> None:
    budget = ReadBudget(0.3)

    async def stalls(_: float) -> str:
        await asyncio.sleep(60)
        return "never"

    async def answers(seconds: float) -> str:
        return f"read with {seconds:.1f} s"

    started = time.monotonic()
    first = await budget.read("IngressClasses", answers, "default")
    second = await budget.read("ConfigMap ingress-nginx/controller", stalls, "default")
    third = await budget.read("Service prod/chat", stalls, "default")
    assert time.monotonic() - started < 0.45  # one budget, not one per read
    assert first == "read with 0.3 s"
    assert (second, third) == ("default", "default")
    assert budget.missed == ["ConfigMap ingress-nginx/controller", "Service prod/chat"]
    assert budget.warning() == (
        "wsaudit could not read ConfigMap ingress-nginx/controller, Service prod/chat within "
        "its 0.3 s admission budget; this answer is given without them (the operator's "
        "audit, in Events and metrics, reads them again)"
    )


async def test_a_spent_budget_does_not_start_another_read() -> None:
    budget = ReadBudget(0.05)
    started: list[str] = []

    async def stalls(_: float) -> None:
        started.append("read")
        await asyncio.sleep(60)

    await budget.read("first", stalls, None)
    await budget.read("second", stalls, None)
    assert started == ["read"]
    assert budget.missed == ["first", "second"]


def test_a_budget_with_nothing_missed_has_no_warning() -> None:
    assert ReadBudget(1).warning() is None

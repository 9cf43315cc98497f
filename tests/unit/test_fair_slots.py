"""One tenant's endpoints that never answer cannot hold every probe slot."""

from __future__ import annotations

import asyncio

from wsaudit.slots import FairSlots, default_per_namespace


async def test_a_namespace_full_of_tarpits_leaves_slots_for_the_others() -> None:
    slots = FairSlots(total=4, per_namespace=2)
    release = asyncio.Event()
    holding = 0

    async def tarpit() -> None:
        nonlocal holding
        async with slots.slot("tenant-a"):
            holding += 1
            await release.wait()

    tarpits = [asyncio.create_task(tarpit()) for _ in range(100)]
    await asyncio.sleep(0.01)
    assert holding == 2  # tenant A holds only its share, the 98 others queue behind it
    async with asyncio.timeout(1):  # tenant B gets a slot at once
        async with slots.slot("tenant-b"), slots.slot("tenant-c"):
            pass
    release.set()
    await asyncio.gather(*tarpits)
    assert holding == 100
    assert slots.in_use("tenant-a") == 0  # nothing kept once a namespace is quiet


async def test_the_global_limit_still_holds_across_namespaces() -> None:
    slots = FairSlots(total=3, per_namespace=2)
    running = peak = 0
    gate = asyncio.Event()

    async def probe(namespace: str) -> None:
        nonlocal running, peak
        async with slots.slot(namespace):
            running += 1
            peak = max(peak, running)
            await gate.wait()
            running -= 1

    tasks = [asyncio.create_task(probe(f"ns-{i % 5}")) for i in range(20)]
    await asyncio.sleep(0.01)
    assert running == 3
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 3


def test_the_default_share_is_a_quarter_and_never_zero() -> None:
    assert default_per_namespace(20) == 5
    assert default_per_namespace(2) == 1

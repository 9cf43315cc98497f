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


async def test_when_tenants_together_hold_every_slot_a_freed_one_goes_to_the_idle_tenant() -> None:
    """Four tenants' tarpits at their share fill all slots; each tarpit tenant also has
    probes queued from before. The first slot that frees goes to tenant B, which holds none,
    not to the tarpit probes that asked first."""
    slots = FairSlots(total=4, per_namespace=1)
    finish = {f"tarpit-{i}": asyncio.Event() for i in range(4)}
    order: list[str] = []

    async def probe(namespace: str) -> None:
        async with slots.slot(namespace):
            order.append(namespace)
            if namespace in finish:
                await finish[namespace].wait()

    tarpits = [asyncio.create_task(probe(ns)) for ns in finish for _ in range(3)]
    await asyncio.sleep(0.01)
    assert sorted(order) == sorted(finish)  # every slot held, 8 tarpit probes queued
    b = asyncio.create_task(probe("tenant-b"))
    await asyncio.sleep(0.01)
    assert not b.done()
    finish["tarpit-0"].set()  # tarpit-0's probes now end at once
    await asyncio.wait_for(b, 1)
    assert order[4] == "tenant-b"
    for event in finish.values():
        event.set()
    await asyncio.gather(*tarpits)
    assert all(slots.in_use(ns) == 0 for ns in [*finish, "tenant-b"])


async def test_a_cancelled_probe_gives_back_its_place_or_its_slot() -> None:
    slots = FairSlots(total=1, per_namespace=1)
    gate = asyncio.Event()

    async def hold() -> None:
        async with slots.slot("a"):
            await gate.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())  # queued behind the holder
    await asyncio.sleep(0)
    waiter.cancel()  # a probe loop stopped while waiting (endpoint deleted)
    gate.set()
    await holder
    assert slots.in_use("a") == 0
    # Granted and cancelled in the same loop iteration: the slot is handed on, not lost.
    gate.clear()
    first = asyncio.create_task(hold())
    await asyncio.sleep(0)
    second = asyncio.create_task(hold())
    await asyncio.sleep(0)
    gate.set()
    await first  # frees the slot: granted to `second`, which is cancelled before it runs
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    async with asyncio.timeout(1), slots.slot("b"):
        pass
    assert slots.in_use("a") == 0

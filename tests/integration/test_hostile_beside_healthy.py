"""Issue 12: hostile endpoints of every kind beside healthy ones, probed at once by the
engine in one event loop, through the operator's fair slots. The hostile and the healthy
servers run in processes of their own (support.hostile), so that what is measured here is
the prober alone: its deadlines, its event loop, its memory and descriptors, and the healthy
probes' latency (a flood server on the healthy servers' loop would slow them, not the
prober)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.server import ServerConnection, serve

from support.hostile import (
    KINDS,
    PINGS,
    LoopLag,
    Probed,
    TargetsProcess,
    deaf_tls,
    flood,
    median,
    open_descriptors,
    percentile,
    probe_all,
    recording_connects,
    rss_mib,
    serve_targets,
    upgrade,
)
from support.servers import ALLOWED, tcp_server
from wsaudit.probe import AddressGuard, CheckStatus, ProbeConfig, probe
from wsaudit.slots import FairSlots, default_per_namespace

pytestmark = pytest.mark.integration

HOSTILE, HEALTHY = 100, 20
HOSTILE_TIMEOUT, HEALTHY_TIMEOUT = 2.0, 10.0
TIMEOUTS = {True: HOSTILE_TIMEOUT, False: HEALTHY_TIMEOUT}
ROUNDS, WARM_UP_ROUNDS = 5, 2
# After a round, anything still connecting would be seen within this.
SETTLE = 0.3
GUARD = AddressGuard(allow_private=True)  # every server here listens on loopback


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetsProcess]:
    with serve_targets(HOSTILE, 0, tmp_path_factory.mktemp("hostile")) as running:
        yield running


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetsProcess]:
    with serve_targets(0, HEALTHY, tmp_path_factory.mktemp("healthy")) as running:
        yield running


def operator_slots() -> FairSlots:
    """The slots as the operator builds them for `--max-concurrent-probes 120` (each
    namespace's share is the default quarter): every probe of a round runs at once, the
    worst case for one event loop. Under the default 20 slots, one tenant's share is tested
    through the operator in tests/e2e/test_tenant_fairness.py."""
    total = HOSTILE + HEALTHY
    return FairSlots(total, default_per_namespace(total))


def connections_after_deadline(probed: list[Probed], connects: dict[int, list[float]]) -> list[str]:
    """Connections to a hostile target started after its probe's deadline (each target is
    probed once a round: `connects` holds one round)."""
    return [
        f"{one.target.kind} {one.target.url}: {at - one.deadline:.3f} s late"
        for one in probed
        if one.target.hostile
        for at in connects.get(one.target.port, [])
        if at > one.deadline
    ]


@pytest.fixture
def own_heap() -> Iterator[None]:
    """The objects the rest of the test session left in this process are frozen out of the
    garbage collector (gc.freeze), so that a full collection walks the prober's heap only, as
    in the operator's own process. Run after the whole integration suite (twice the RSS of a
    run alone), the loop stalled once for 0.18 s, which a run alone never showed (worst 44 ms):
    the suite's heap, not the prober, is what a full collection would then walk."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


async def test_hostile_endpoints_of_every_kind_leave_the_healthy_ones_and_the_loop_alone(
    hostile: TargetsProcess, healthy: TargetsProcess, own_heap: None
) -> None:
    everything = hostile.targets + healthy.targets
    assert {t.kind for t in hostile.targets} == set(KINDS)
    slots = operator_slots()
    # Warm-up, every kind once: imports, the resolver, and each TLS trust store's context,
    # created once per process (loading the system roots holds the loop for ~20 ms).
    await probe_all(everything, slots, TIMEOUTS)
    await asyncio.sleep(SETTLE)  # the warm-up's last sockets close

    ratios: list[tuple[float, float]] = []  # healthy beside hostile / alone: median, worst
    memory: list[float] = []
    descriptors_before = open_descriptors()
    descriptors: list[int] = []
    lag = LoopLag()
    for number in range(1, ROUNDS + 1):
        # The baseline is measured alone right before each round, so that both see the same
        # load from the rest of the machine.
        alone = [p.seconds for p in await probe_all(healthy.targets, slots, TIMEOUTS)]
        with recording_connects() as connects:
            async with lag.measuring():
                probed = await probe_all(everything, slots, TIMEOUTS)
                await asyncio.sleep(SETTLE)
        memory.append(rss_mib())
        descriptors.append(open_descriptors())

        hostile_probes = [p for p in probed if p.target.hostile]
        beside = [p.seconds for p in probed if not p.target.hostile]
        slowest = max(hostile_probes, key=lambda p: p.seconds)
        print(
            f"round {number}: slowest hostile {slowest.seconds:.2f} s ({slowest.target.kind}, "
            f"timeout {HOSTILE_TIMEOUT:g} s); healthy median {median(beside):.2f} s, worst "
            f"{max(beside):.2f} s (alone {median(alone):.2f} s, {max(alone):.2f} s); "
            f"RSS {memory[-1]:.1f} MiB, {descriptors[-1]} fds"
        )
        for one in hostile_probes:
            assert one.seconds <= one.timeout + 1.0, (one.target, one.seconds)
            assert one.result.cause != "probe-error", one.target
        for one in probed:
            if not one.target.hostile:
                check = one.result.check("handshake")
                assert check is not None and check.status is CheckStatus.PASS, one.result
        ratios.append((median(beside) / median(alone), max(beside) / max(alone)))
        late = connections_after_deadline(probed, connects)
        assert late == [], f"connections opened after the probe's deadline: {late}"

    # The listeners' own count: the probes did reach every hostile server, every round.
    accepted = sum(len(times) for times in hostile.accepts().values())
    print(
        f"loop lag, the loop's own (wall clock): p50 {median(lag.own) * 1000:.1f} "
        f"({median(lag.lags) * 1000:.1f}) ms, p99 {percentile(lag.own, 0.99) * 1000:.1f} "
        f"({percentile(lag.lags, 0.99) * 1000:.1f}) ms, worst {max(lag.own) * 1000:.1f} "
        f"({max(lag.lags) * 1000:.1f}) ms; {accepted} connections to hostile listeners"
    )
    # Latency is judged in the typical round: on a shared 2-core machine another process
    # can take the CPU from the prober (and its servers) for a whole round.
    typical = median([typical for typical, _worst in ratios]), median([w for _t, w in ratios])
    print(
        f"healthy latency beside hostile / alone, typical round: {typical[0]:.2f}x median, "
        f"{typical[1]:.2f}x worst"
    )
    assert typical[0] <= 2 and typical[1] <= 2, ratios
    listening = sum(1 for t in hostile.targets if t.port)
    assert accepted >= ROUNDS * listening  # every listener was reached in every round
    assert max(lag.own) < 0.1, f"the event loop was blocked {max(lag.own) * 1000:.0f} ms"
    # Flat after warm-up: a leak of one probe's buffers (a flood reads up to 1 MiB) would
    # add a hundred MiB a round.
    growth = memory[-1] - memory[WARM_UP_ROUNDS - 1]
    assert growth < 8, f"RSS grew {growth:.1f} MiB over {ROUNDS - WARM_UP_ROUNDS} rounds: {memory}"
    assert descriptors == [descriptors_before] * ROUNDS, "a probe left a socket open"


# --- One hostile target at a time: what each costs the prober -------------------------------


async def test_a_deaf_tls_server_holds_the_probe_no_longer_than_its_deadline() -> None:
    async with tcp_server(deaf_tls) as server:
        config = ProbeConfig(url=server.url("wss", path="/ws"), timeout=1.0)
        started = time.monotonic()
        result = await probe(config, GUARD)
        elapsed = time.monotonic() - started
    assert result.cause == "timeout"
    # Closing a socket whose TLS handshake the deadline cut waited a further second.
    assert elapsed < 1.2, elapsed


async def test_a_ping_flood_gets_few_pongs_and_keepalive_pings_all_theirs() -> None:
    pong_bytes: list[int] = []
    pong = 2 + 4 + 125  # a masked pong echoing a 125-byte ping

    async def flood_counting_pongs(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async def count() -> None:
            received = 0
            with contextlib.suppress(ConnectionError):
                while chunk := await reader.read(65536):
                    received += len(chunk)
            pong_bytes.append(received)

        await upgrade(reader, writer)
        counting = asyncio.ensure_future(count())
        try:
            await flood(writer, PINGS)
        finally:
            await counting

    async with tcp_server(flood_counting_pongs) as server:
        config = ProbeConfig(url=server.url(path="/ws"), allowed_origins=(ALLOWED,))
        flooded = await probe(config, GUARD)
    # What a browser-like client answers: up to 256 pings read per watch, before it gave
    # up on the flood. A pong per PONG_INTERVAL of the 0.5 s watch is all it gets now.
    assert pong_bytes
    assert max(pong_bytes) < 8 * pong, pong_bytes
    assert flooded.cause != "probe-error"

    async def quiet(connection: ServerConnection) -> None:
        await connection.wait_closed()

    # A server that closes when a ping of its own goes unanswered for 0.2 s.
    async with serve(quiet, "127.0.0.1", 0, ping_interval=0.15, ping_timeout=0.2) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        config = ProbeConfig(url=f"ws://127.0.0.1:{port}/ws", idle_seconds=1.5)
        held = await probe(config, GUARD)
    idle = held.check("idle")
    assert idle is not None and idle.status is CheckStatus.PASS, idle

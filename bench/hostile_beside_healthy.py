"""Probes hostile endpoints of every kind beside healthy ones at once; prints what each kind
costs the prober, the healthy probes' latency beside them against alone, and the event
loop's stalls.

Usage: python bench/hostile_beside_healthy.py [--hostile 100] [--healthy 20] [--rounds 5]
The servers run in two processes of their own (hostile, healthy: support/hostile.py), the
probes through FairSlots sized for every probe at once (as tests/integration/
test_hostile_beside_healthy.py does). "own" loop stalls leave out the time the kernel gave
the CPU to other processes (a shared machine); "wall" includes it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.hostile import (
    KINDS,
    LoopLag,
    Target,
    median,
    percentile,
    probe_all,
    rss_mib,
    serve_targets,
)
from wsaudit.slots import FairSlots, default_per_namespace

TIMEOUTS = {True: 2.0, False: 10.0}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


async def main(hostile: list[Target], healthy: list[Target], rounds: int) -> None:
    total = len(hostile) + len(healthy)
    slots = FairSlots(total, default_per_namespace(total))
    await probe_all(healthy, slots, TIMEOUTS)  # warm-up

    print("kind              probes  result_s_max  prober_cpu_ms_per_probe")
    for kind in KINDS:
        chosen = [t for t in hostile if t.kind == kind]
        cpu = time.process_time()
        probed = await probe_all(chosen, slots, TIMEOUTS)
        per_probe = (time.process_time() - cpu) / len(chosen)
        slowest = max(p.seconds for p in probed)
        print(f"{kind:<17} {len(chosen):>6}  {slowest:>12.2f}  {ms(per_probe):>23}")

    ratios: list[float] = []
    lag = LoopLag()
    for number in range(1, rounds + 1):
        alone = [p.seconds for p in await probe_all(healthy, slots, TIMEOUTS)]
        cpu, started = time.process_time(), time.monotonic()
        async with lag.measuring():
            probed = await probe_all(hostile + healthy, slots, TIMEOUTS)
        wall, cpu = time.monotonic() - started, time.process_time() - cpu
        beside = [p.seconds for p in probed if not p.target.hostile]
        ratios.append(median(beside) / median(alone))
        print(
            f"round={number} wall_s={wall:.2f} prober_cpu_s={cpu:.2f} "
            f"healthy_median_s alone={median(alone):.2f} beside={median(beside):.2f} "
            f"ratio={ratios[-1]:.2f} rss_mib={rss_mib():.1f}"
        )
    print(f"healthy_latency_ratio median_round={median(ratios):.2f} worst_round={max(ratios):.2f}")
    print(
        f"loop_stall_ms own p50={ms(median(lag.own))} p99={ms(percentile(lag.own, 0.99))} "
        f"max={ms(max(lag.own))}; wall p50={ms(median(lag.lags))} "
        f"p99={ms(percentile(lag.lags, 0.99))} max={ms(max(lag.lags))}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hostile", type=int, default=100)
    parser.add_argument("--healthy", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (directory / "hostile").mkdir()
        (directory / "healthy").mkdir()
        bad = stack.enter_context(serve_targets(options.hostile, 0, directory / "hostile"))
        good = stack.enter_context(serve_targets(0, options.healthy, directory / "healthy"))
        asyncio.run(main(bad.targets, good.targets, options.rounds))

"""Probes N local WebSocket endpoints concurrently; prints probes per second, latency,
CPU and memory.

Usage: python bench/probe_throughput.py [--endpoints 200] [--concurrency 50]
Every endpoint is a real WebSocket server on loopback with a strict origin policy, so each
probe performs the full set of handshakes (allowed origin plus every untrusted case). The
accepted allowed-Origin connection is watched for 0.5 s after its 101 (to see a refusal
after the upgrade): that is latency, not CPU, so probes/s at a given concurrency is bounded
by concurrency / latency while CPU per probe is the figure that measures the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.servers import ALLOWED, websocket_server
from wsaudit.probe import AddressGuard, ProbeConfig, probe


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(endpoints: int, concurrency: int, servers: int) -> None:
    guard = AddressGuard(allow_private=True)
    async with contextlib.AsyncExitStack() as stack:
        running = [
            await stack.enter_async_context(websocket_server("strict")) for _ in range(servers)
        ]
        urls = [running[i % servers].url(path=f"/ep{i}") for i in range(endpoints)]
        limit = asyncio.Semaphore(concurrency)
        before = rss_mib()

        async def one(url: str) -> tuple[int, float]:
            async with limit:
                result = await probe(ProbeConfig(url=url, allowed_origins=(ALLOWED,)), guard)
            tried = sum(
                len(check.details.get("origins", ()))
                for check in result.checks
                if check.id.startswith("origin.")
            )
            return 1 + tried, result.timings["total"]  # the allowed origin, then the cases

        cpu_started = time.process_time()
        started = time.perf_counter()
        results = await asyncio.gather(*(one(url) for url in urls))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    handshakes = sum(count for count, _latency in results)
    latencies = sorted(latency for _count, latency in results)
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    print(f"endpoints={endpoints} concurrency={concurrency} servers={servers}")
    print(f"probes/s={endpoints / elapsed:.1f} handshakes/s={handshakes / elapsed:.0f}")
    print(f"elapsed_s={elapsed:.2f} handshakes_per_probe={handshakes / endpoints:.0f}")
    print(f"probe_latency_s p50={p50:.2f} p99={p99:.2f}")
    print(
        f"cpu_ms_per_probe={cpu / endpoints * 1000:.1f} "
        f"cpu_ms_per_handshake={cpu / handshakes * 1000:.2f} (this process: probes and servers)"
    )
    print(f"max_rss_mib={rss_mib():.1f} rss_growth_mib={rss_mib() - before:.1f}")
    print(f"ratio_probes_per_s_per_core={endpoints / elapsed / 2:.1f} (2 cores, server included)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--servers", type=int, default=4)
    options = parser.parse_args()
    asyncio.run(main(options.endpoints, options.concurrency, options.servers))

"""Probes N local WebSocket endpoints concurrently; prints probes per second and memory.

Usage: python bench/probe_throughput.py [--endpoints 200] [--concurrency 50]
Every endpoint is a real WebSocket server on loopback with a strict origin policy, so each
probe performs the full set of handshakes (allowed origin plus every untrusted case).
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

        async def one(url: str) -> int:
            async with limit:
                result = await probe(ProbeConfig(url=url, allowed_origins=(ALLOWED,)), guard)
                return len(result.checks)

        started = time.perf_counter()
        checks = await asyncio.gather(*(one(url) for url in urls))
        elapsed = time.perf_counter() - started
    handshakes = endpoints * (1 + 8)  # allowed origin + untrusted cases per probe
    print(f"endpoints={endpoints} concurrency={concurrency} servers={servers}")
    print(f"probes/s={endpoints / elapsed:.1f} handshakes/s={handshakes / elapsed:.0f}")
    print(f"elapsed_s={elapsed:.2f} checks_per_probe={checks[0]}")
    print(f"max_rss_mib={rss_mib():.1f} rss_growth_mib={rss_mib() - before:.1f}")
    print(f"ratio_probes_per_s_per_core={endpoints / elapsed / 2:.1f} (2 cores, server included)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--servers", type=int, default=4)
    options = parser.parse_args()
    asyncio.run(main(options.endpoints, options.concurrency, options.servers))

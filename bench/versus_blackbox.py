"""wsaudit's probe engine side by side with blackbox_exporter's WebSocket prober and a bare
client, on identical local targets; prints handshakes per CPU-second and the ratios of
issue 13.

Usage: python bench/versus_blackbox.py --blackbox PATH [--handshakes 600] [--probes 60]
PATH is a blackbox_exporter binary that has the `websocket` prober (it is in the repository
from commit 7e7c299, after v0.28.0; the module proxy serves only v0.28.0, so it is built
from a clone, conventionally into ~/.cache/wsaudit/bin/blackbox_exporter-<commit>/).

Every party runs in a process of its own and is charged the CPU of that process only
(utime + stime from /proc/<pid>/stat, or process_time inside a worker around its run, so
neither start-up nor the target servers count):
- the targets: strict-Origin WebSocket servers for ws:// and wss:// (a trustme CA): the
  `websockets` library's, which closes the connection after each refusal, and one that
  keeps it open (support/keepalive.py), whose refusals carry the next Origin case;
- blackbox_exporter on loopback, driven through `/probe?module=...&target=...` (each probe
  is one handshake plus its HTTP request and metrics: what a Prometheus scrape costs);
- wsaudit's engine: `handshake()` with the allowed Origin, on asyncio's loop and on uvloop,
  and full probes (the allowed Origin plus every untrusted-Origin case);
- a bare client (the `websockets` library's `connect` with the same Origin), the floor of
  what a Python client spends on one handshake.
Load of the machine matters: run it idle, and more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import trustme

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.keepalive import keepalive_server
from support.servers import ALLOWED, websocket_server
from wsaudit import eventloop
from wsaudit.probe import AddressGuard, ProbeConfig, probe
from wsaudit.probe.config import prepare
from wsaudit.probe.handshake import Endpoint, handshake

LOOPBACK = "127.0.0.1"
TIMEOUT = 5.0
SCHEMES = ("ws", "wss")


# --- The processes ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, every thread included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind((LOOPBACK, 0))
        port: int = probe_socket.getsockname()[1]
        return port


@dataclass(frozen=True)
class Files:
    ca: Path
    certificate: Path
    key: Path


def write_certificates(directory: Path) -> Files:
    ca = trustme.CA()
    issued = ca.issue_cert(LOOPBACK)
    files = Files(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(files.ca))
    issued.cert_chain_pems[0].write_to_path(str(files.certificate))
    issued.private_key_pem.write_to_path(str(files.key))
    return files


@contextlib.contextmanager
def started(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(10)


def run_worker(arguments: list[str]) -> dict[str, Any]:
    """A worker in a fresh interpreter; its last stdout line is its figures."""
    command = [sys.executable, __file__, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def blackbox_config(directory: Path, ca: Path) -> Path:
    """Two modules, the same request as wsaudit's allowed-Origin handshake (IPv4, the Origin
    the servers allow; for wss, the CA that signed them)."""
    origin = {"headers": {"Origin": {"values": [ALLOWED]}}, "preferred_ip_protocol": "ip4"}
    tls = {"http_config": {"tls_config": {"ca_file": str(ca)}}}
    modules = {
        "ws": {"prober": "websocket", "timeout": f"{TIMEOUT:g}s", "websocket": origin},
        "wss": {"prober": "websocket", "timeout": f"{TIMEOUT:g}s", "websocket": origin | tls},
    }
    path = directory / "blackbox.yml"
    path.write_text(json.dumps({"modules": modules}))  # JSON is YAML
    return path


async def wait_listening(port: int) -> None:
    for _ in range(100):
        with contextlib.suppress(OSError):
            _reader, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port}")


async def drive_blackbox(
    pid: int, port: int, module: str, target: str, *, count: int, concurrency: int
) -> float:
    """CPU seconds blackbox_exporter spent on `count` probes (each must succeed)."""
    limit = asyncio.Semaphore(concurrency)
    url = f"http://{LOOPBACK}:{port}/probe"
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with limit:
                query = {"module": module, "target": target}
                async with session.get(url, params=query) as response:
                    if "\nprobe_success 1\n" not in await response.text():
                        raise RuntimeError(f"blackbox_exporter failed to probe {target}")

        await one()  # warm: the first probe reads the configuration
        before = cpu_seconds(pid)
        await asyncio.gather(*(one() for _ in range(count)))
        return cpu_seconds(pid) - before


# --- Workers (each in a process of its own) -----------------------------------------------


async def serve(files: Files) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.certificate, files.key)
    async with (
        websocket_server("strict") as plain,
        websocket_server("strict", ssl_context=context) as secure,
        keepalive_server("strict") as plain_kept,
        keepalive_server("strict", ssl_context=context) as secure_kept,
    ):
        ports = {"ws": plain.port, "wss": secure.port}
        ports |= {"ws-kept": plain_kept.running.port, "wss-kept": secure_kept.running.port}
        print(json.dumps(ports), flush=True)
        await asyncio.Event().wait()


async def repeat(one: Callable[[], Awaitable[bool]], count: int, concurrency: int) -> float:
    """CPU seconds of this process for `count` calls of `one`, every one successful."""
    limit = asyncio.Semaphore(concurrency)

    async def limited() -> bool:
        async with limit:
            return await one()

    await one()  # warm: first-use imports and caches are start-up, not per handshake
    before = time.process_time()
    results = await asyncio.gather(*(limited() for _ in range(count)))
    spent = time.process_time() - before
    if not all(results):
        raise RuntimeError(f"{results.count(False)} of {count} failed")
    return spent


async def engine_handshakes(url: str, ca_file: str, count: int, concurrency: int) -> float:
    prepared = prepare(ProbeConfig(url=url, allowed_origins=(ALLOWED,), ca_file=ca_file))
    endpoint = Endpoint(
        target=prepared.target,
        addresses=(ipaddress.ip_address(LOOPBACK),),
        ssl_context=prepared.ssl_context,
        headers=prepared.headers,
    )

    async def one() -> bool:
        deadline = asyncio.get_running_loop().time() + TIMEOUT
        return (await handshake(endpoint, ALLOWED, deadline)).accepted

    return await repeat(one, count, concurrency)


async def engine_probes(url: str, ca_file: str, count: int, concurrency: int) -> float:
    config = ProbeConfig(url=url, allowed_origins=(ALLOWED,), ca_file=ca_file, timeout=TIMEOUT)
    guard = AddressGuard(allow_private=True)

    async def one() -> bool:
        result = await probe(config, guard)
        # Every Origin case decided: refused, as the strict servers do.
        return all(
            not c.id.startswith("origin.") or c.status.value == "pass" for c in result.checks
        )

    return await repeat(one, count, concurrency)


async def bare_handshakes(url: str, ca_file: str, count: int, concurrency: int) -> float:
    from websockets.asyncio.client import connect  # noqa: PLC0415 (a dev dependency)

    context = ssl.create_default_context(cafile=ca_file) if url.startswith("wss") else None

    async def one() -> bool:
        async with connect(url, origin=ALLOWED, ssl=context, compression=None):  # type: ignore[arg-type]
            return True

    return await repeat(one, count, concurrency)


WORKERS = {"handshake": engine_handshakes, "probe": engine_probes, "bare": bare_handshakes}


def worker(options: argparse.Namespace) -> None:
    run = WORKERS[options.mode]
    main = run(options.url, options.ca_file, options.count, options.concurrency)
    factory = eventloop.loop_factory() if options.loop == "uvloop" else None
    if options.loop == "uvloop" and factory is None:
        raise SystemExit("uvloop is not installed")
    with asyncio.Runner(loop_factory=factory) as runner:
        spent = runner.run(main)
    print(json.dumps({"cpu_s": spent, "count": options.count}))


# --- The comparison -----------------------------------------------------------------------


def per_cpu_second(figures: dict[str, Any]) -> float:
    return float(figures["count"]) / float(figures["cpu_s"])


async def compare(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        files = write_certificates(directory)
        server_command = [sys.executable, __file__, "serve", "--directory", str(directory)]
        blackbox_port = free_port()
        blackbox_command = [
            options.blackbox,
            f"--config.file={blackbox_config(directory, files.ca)}",
            f"--web.listen-address={LOOPBACK}:{blackbox_port}",
            "--log.level=error",
            "--log.prober=error",
        ]
        with started(server_command) as servers, started(blackbox_command) as blackbox:
            assert servers.stdout is not None
            ports = json.loads(servers.stdout.readline())
            await wait_listening(blackbox_port)
            rows: dict[str, dict[str, float]] = {}
            for scheme in SCHEMES:
                url = f"{scheme}://{LOOPBACK}:{ports[scheme]}/ws"
                common = ["--url", url, "--ca-file", str(files.ca)]
                common += ["--concurrency", str(options.concurrency)]
                handshakes = ["--count", str(options.handshakes)]
                blackbox_cpu = await drive_blackbox(
                    blackbox.pid,
                    blackbox_port,
                    scheme,
                    url,
                    count=options.handshakes,
                    concurrency=options.concurrency,
                )
                row = {"blackbox": options.handshakes / blackbox_cpu}
                kept_url = f"{scheme}://{LOOPBACK}:{ports[scheme + '-kept']}/ws"
                kept = ["--url", kept_url, *common[2:]]
                probes = ["--count", str(options.probes)]
                for loop in ("asyncio", "uvloop"):
                    engine = run_worker(["handshake", "--loop", loop, *common, *handshakes])
                    row[f"engine_{loop}"] = per_cpu_second(engine)
                    full = run_worker(["probe", "--loop", loop, *common, *probes])
                    row[f"probe_ms_{loop}"] = 1000 * full["cpu_s"] / full["count"]
                    full = run_worker(["probe", "--loop", loop, *kept, *probes])
                    row[f"kept_probe_ms_{loop}"] = 1000 * full["cpu_s"] / full["count"]
                bare = run_worker(["bare", "--loop", "uvloop", *common, *handshakes])
                row["bare_uvloop"] = per_cpu_second(bare)
                row["blackbox_probe_ms"] = 1000 * blackbox_cpu / options.handshakes
                rows[scheme] = row
    report(rows, options)


def report(rows: dict[str, dict[str, float]], options: argparse.Namespace) -> None:
    print(
        f"handshakes={options.handshakes} probes={options.probes} "
        f"concurrency={options.concurrency} load={os.getloadavg()[0]:.2f}"
    )
    for scheme, row in rows.items():
        print(
            f"{scheme}: handshakes per CPU-second: blackbox={row['blackbox']:.0f} "
            f"engine_asyncio={row['engine_asyncio']:.0f} engine_uvloop={row['engine_uvloop']:.0f} "
            f"bare_websockets_uvloop={row['bare_uvloop']:.0f}"
        )
        print(
            f"{scheme}: cpu_ms: blackbox_probe={row['blackbox_probe_ms']:.2f} "
            f"full_probe_asyncio={row['probe_ms_asyncio']:.2f} "
            f"full_probe_uvloop={row['probe_ms_uvloop']:.2f}"
        )
        print(
            f"{scheme}: ratio engine/blackbox handshakes per CPU-second: "
            f"asyncio={row['engine_asyncio'] / row['blackbox']:.2f} "
            f"uvloop={row['engine_uvloop'] / row['blackbox']:.2f} "
            f"(target >= {1.5 if scheme == 'wss' else 2.0})"
        )
        print(
            f"{scheme}: cpu_ms: full_probe_keepalive_server_asyncio="
            f"{row['kept_probe_ms_asyncio']:.2f} "
            f"full_probe_keepalive_server_uvloop={row['kept_probe_ms_uvloop']:.2f}"
        )
        for server, prefix in (("closes after a refusal", ""), ("keeps alive", "kept_")):
            print(
                f"{scheme}: ratio full probe / one blackbox probe (CPU), server {server}: "
                f"asyncio={row[prefix + 'probe_ms_asyncio'] / row['blackbox_probe_ms']:.1f} "
                f"uvloop={row[prefix + 'probe_ms_uvloop'] / row['blackbox_probe_ms']:.1f} "
                "(target <= 3)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    roles = parser.add_subparsers(dest="role")
    serving = roles.add_parser("serve", help="(internal) the target servers")
    serving.add_argument("--directory", type=Path, required=True)
    for mode in WORKERS:
        work = roles.add_parser(mode, help="(internal) a measured worker")
        work.add_argument("--loop", choices=("asyncio", "uvloop"), required=True)
        work.add_argument("--url", required=True)
        work.add_argument("--ca-file", required=True)
        work.add_argument("--count", type=int, required=True)
        work.add_argument("--concurrency", type=int, required=True)
        work.set_defaults(mode=mode)
    parser.add_argument("--blackbox", help="a blackbox_exporter binary with the websocket prober")
    parser.add_argument("--handshakes", type=int, default=600)
    parser.add_argument("--probes", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=10)
    options = parser.parse_args()
    if options.role == "serve":
        directory = options.directory
        files = Files(directory / "ca.pem", directory / "server.pem", directory / "server.key")
        asyncio.run(serve(files))
    elif options.role in WORKERS:
        worker(options)
    elif options.blackbox is None:
        parser.error("--blackbox PATH is required")
    else:
        asyncio.run(compare(options))


if __name__ == "__main__":
    main()

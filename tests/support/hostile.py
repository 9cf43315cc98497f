"""Hostile WebSocket targets of every kind issue 12 names, beside healthy ones, served by a
process of their own, and what a test measures about the prober facing them.

The servers run in a separate process so that the prober's event loop, memory and file
descriptors are measured alone (on two cores the servers also get a core of their own).
`python -m support.hostile --hostile N --healthy M --accepts FILE` prints one JSON line,
the targets, then serves until it is terminated. Each accepted connection is appended to
FILE as `{"port": P, "at": T}`, T from CLOCK_MONOTONIC, which is one clock for every process
of the machine: the prober compares it with its own deadlines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import re
import struct
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

from wsaudit.probe import AddressGuard, ProbeConfig, ProbeResult, probe
from wsaudit.probe.guard import Resolver
from wsaudit.slots import FairSlots

from .dns import dns_server, fixed, never
from .servers import ALLOWED, websocket_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

FOREVER = 3600.0
_KEY = re.compile(rb"^sec-websocket-key:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
# What a flood writes per drain: large enough that the socket is always full.
_FLOOD_BLOCK = 256 * 1024


async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the handshake and answers a valid 101 to any Origin."""
    head = await reader.readuntil(b"\r\n\r\n")
    found = _KEY.search(head)
    key = found.group(1).decode() if found else ""
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
    )
    await writer.drain()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts the connection, never reads, never answers (a tarpit)."""
    await asyncio.sleep(FOREVER)


async def deaf_tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Takes the TLS ClientHello and never answers it."""
    await reader.read(4096)
    await asyncio.sleep(FOREVER)


async def slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Starts a 101 and sends its headers one byte every 100 ms, never ending them."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: ")
    while True:
        await asyncio.sleep(0.1)
        writer.write(b"z")
        await writer.drain()


async def silent_after_101(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A valid 101, then nothing: no data, no answer to a close frame, no FIN."""
    await upgrade(reader, writer)
    await asyncio.sleep(FOREVER)


async def flood(writer: asyncio.StreamWriter, block: bytes) -> None:
    """Writes `block` again and again, as fast as the peer reads."""
    while True:
        writer.write(block)
        await writer.drain()


def _flooding(block: bytes, head: bytes = b"") -> Handler:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await upgrade(reader, writer)
        writer.write(head)
        await flood(writer, block)

    return respond


def _frames(frame: Frame) -> bytes:
    one = frame.serialize(mask=False)
    return one * (_FLOOD_BLOCK // len(one))


PINGS = _frames(Frame(Opcode.PING, b"p" * 125))
HOSTILE_HANDLERS: dict[str, Handler] = {
    "silent": silent,
    "slowloris": slowloris,
    "silent-after-101": silent_after_101,
    "ping-flood": _flooding(PINGS),
    "frame-flood": _flooding(_frames(Frame(Opcode.TEXT, b"t" * 125))),
    # One binary frame that claims 2**62 bytes, and bytes that never end it.
    "huge-frame": _flooding(b"\x00" * _FLOOD_BLOCK, head=b"\x82\x7f" + struct.pack("!Q", 2**62)),
    "deaf-tls": deaf_tls,
}
# A name whose name server never answers: no listener, the lookup is the trap.
STALLED_DNS = "stalled-dns"
KINDS = (*HOSTILE_HANDLERS, STALLED_DNS)
HEALTHY = "healthy"


@dataclass(frozen=True)
class Target:
    kind: str
    url: str
    port: int  # the listener that timestamps accepts (0: none)
    nameserver: str | None = None  # resolve the URL's name there

    @property
    def hostile(self) -> bool:
        return self.kind != HEALTHY


async def _serve(hostile: int, healthy: int, accepts: IO[str]) -> None:
    def recorded(handler: Handler) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            port = writer.get_extra_info("sockname")[1]
            accepts.write(json.dumps({"port": port, "at": time.monotonic()}) + "\n")
            with contextlib.suppress(
                ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError
            ):
                await handler(reader, writer)
            writer.close()

        return handle

    targets: list[Target] = []
    async with contextlib.AsyncExitStack() as stack:
        stalled = await stack.enter_async_context(dns_server(never))
        for i in range(hostile):
            kind = KINDS[i % len(KINDS)]
            if kind == STALLED_DNS:
                url = f"ws://stalled-{i}.tenant.test:9/ws"
                targets.append(Target(kind, url, 0, stalled.nameserver))
                continue
            server = await asyncio.start_server(recorded(HOSTILE_HANDLERS[kind]), "127.0.0.1", 0)
            stack.push_async_callback(server.wait_closed)
            stack.callback(server.close)
            port = server.sockets[0].getsockname()[1]
            scheme = "wss" if kind == "deaf-tls" else "ws"
            targets.append(Target(kind, f"{scheme}://127.0.0.1:{port}/ws", port))
        answering = await stack.enter_async_context(dns_server(fixed("127.0.0.1")))
        for i in range(healthy):
            server = await stack.enter_async_context(websocket_server("strict"))
            url = server.url(host=f"healthy-{i}.team.test", path="/ws")
            targets.append(Target(HEALTHY, url, server.port, answering.nameserver))
        print(json.dumps([dataclasses.asdict(t) for t in targets]), flush=True)
        await asyncio.Event().wait()


@dataclass
class TargetsProcess:
    targets: list[Target]
    accepts_file: Path

    def accepts(self) -> dict[int, list[float]]:
        """Every accepted connection so far, by listener port."""
        found: dict[int, list[float]] = defaultdict(list)
        for line in self.accepts_file.read_text().splitlines():
            entry = json.loads(line)
            found[entry["port"]].append(entry["at"])
        return found


@contextlib.contextmanager
def serve_targets(hostile: int, healthy: int, directory: Path) -> Iterator[TargetsProcess]:
    """`hostile` targets, the kinds in KINDS in turn, and `healthy` strict WebSocket servers
    (each under a name a DNS server of their own resolves), in a process of their own."""
    accepts = directory / "accepts.jsonl"
    accepts.touch()
    tests = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "support.hostile", "--hostile", str(hostile)]
    process = subprocess.Popen(
        [*command, "--healthy", str(healthy), "--accepts", str(accepts)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), *sys.path])},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"support.hostile exited with {process.wait()}")
        yield TargetsProcess([Target(**t) for t in json.loads(line)], accepts)
    finally:
        process.terminate()
        process.wait(10)


# --- What the prober's side measures -------------------------------------------------------


@dataclass(frozen=True)
class Probed:
    target: Target
    timeout: float
    queued: float  # loop time when the probe was asked for
    started: float  # ... when it got its slot and began (its deadline runs from here)
    finished: float
    result: ProbeResult

    @property
    def seconds(self) -> float:
        """How long the probe itself took (its slot held)."""
        return self.finished - self.started

    @property
    def deadline(self) -> float:
        return self.started + self.timeout


def namespace_of(target: Target) -> str:
    """Each hostile kind is a tenant of its own; the healthy endpoints belong to one team."""
    return f"tenant-{target.kind}" if target.hostile else "team"


async def probe_all(
    targets: Sequence[Target], slots: FairSlots, timeouts: dict[bool, float]
) -> list[Probed]:
    """Probes every target at once, each taking a slot of its namespace as the operator's
    probe loop does; `timeouts[target.hostile]` is each probe's deadline."""
    loop = asyncio.get_running_loop()
    guard = AddressGuard(allow_private=True)  # every target listens on loopback

    async def one(target: Target) -> Probed:
        queued = loop.time()
        timeout = timeouts[target.hostile]
        config = ProbeConfig(url=target.url, allowed_origins=(ALLOWED,), timeout=timeout)
        resolver = Resolver(nameservers=(target.nameserver,)) if target.nameserver else None
        async with slots.slot(namespace_of(target)):
            started = loop.time()
            result = await probe(config, guard, resolver)
            return Probed(target, timeout, queued, started, loop.time(), result)

    return list(await asyncio.gather(*(one(t) for t in targets)))


# Recorders of connections started, fed by one audit hook (hooks cannot be removed).
_connect_recorders: list[dict[int, list[float]]] = []


def _record_connect(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.connect" and _connect_recorders and isinstance(args[1], tuple):
        at = time.monotonic()
        for recorder in _connect_recorders:
            recorder[args[1][1]].append(at)


@functools.cache
def _install_connect_hook() -> None:
    sys.addaudithook(_record_connect)


@contextlib.contextmanager
def recording_connects() -> Iterator[dict[int, list[float]]]:
    """Every TCP connection this process starts meanwhile, by destination port, with the
    time it started: read from the interpreter's `socket.connect` audit event, so that the
    prober's own clock tells whether it opened a connection after a deadline (a listener's
    accept time lags by however long its process waits for a CPU)."""
    _install_connect_hook()
    recorder: dict[int, list[float]] = defaultdict(list)
    _connect_recorders.append(recorder)
    try:
        yield recorder
    finally:
        _connect_recorders.remove(recorder)


def _runqueue_wait() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat)."""
    return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9


class LoopLag:
    """A ticker of the test's own: how late each 10 ms sleep wakes is how long the event
    loop was busy with something else. `own` leaves out the time the kernel kept the
    process off a CPU for other processes (a shared 2-core machine): what is left is the
    loop's own doing, callbacks that ran too long."""

    TICK = 0.01

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.own: list[float] = []

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before, waited = loop.time(), _runqueue_wait()
            await asyncio.sleep(self.TICK)
            lag = loop.time() - before - self.TICK
            self.lags.append(lag)
            self.own.append(max(0.0, lag - (_runqueue_wait() - waited)))

    @contextlib.asynccontextmanager
    async def measuring(self) -> AsyncIterator[LoopLag]:
        task = asyncio.ensure_future(self._tick())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def rss_mib() -> float:
    """This process's resident memory now (not the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def median(values: Sequence[float]) -> float:
    return percentile(values, 0.5)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hostile", type=int, required=True)
    parser.add_argument("--healthy", type=int, required=True)
    parser.add_argument("--accepts", type=Path, required=True)
    options: Any = parser.parse_args(argv)
    with options.accepts.open("a", buffering=1) as accepts:
        asyncio.run(_serve(options.hostile, options.healthy, accepts))


if __name__ == "__main__":
    main()

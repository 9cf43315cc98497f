"""A network of the test's own: a Linux network and mount namespace (`unshare`, root) whose
loopback carries an allowed address and every refused one, with a listener on each, a DNS
server of the test's own on 127.0.0.1:53 and a resolv.conf that points at it, bind-mounted
over /etc/resolv.conf for the processes of that namespace only. `wsaudit probe` then runs
inside it (`nsenter`) exactly as in production: names resolved through the system's
resolver file, connections to real addresses.

`python -m support.netns SCENARIOS EVENTS` is the namespace's first process (run by
`isolated_network`, under `unshare --net --mount`): it sets the namespace up, prints one
line when ready and appends what happens to EVENTS as JSON lines: each DNS query and its
answer, each connection accepted on a refused address, each handshake the allowed server
receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from .dns import Rebinding, dns_server
from .servers import ALLOWED

PORT = 8080  # every listener's port: the namespace is empty, and a URL has one port
ALLOWED_ADDRESS = "10.77.0.10"  # private, so allowed by default: in-cluster Services live there
# Each refused address the namespace really has, so that a probe that got past the guard
# would reach a listener: loopback, cloud metadata (and AWS's IPv6 one), and the IPv6
# forms that carry an IPv4 inside.
LISTENING = (
    "127.0.0.1",
    "::1",
    "169.254.169.254",
    "fd00:ec2::254",
    "2002:a9fe:a9fe::",
    "64:ff9b::7f00:1",
)
# Names whose answers alternate: {name: {"first": [...], "then": [...]}}
Scenarios = dict[str, dict[str, list[str]]]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def _set_up_namespace(resolv_conf: Path) -> None:
    _ip("link", "set", "lo", "up")
    for address in (ALLOWED_ADDRESS, *LISTENING):
        if address not in ("127.0.0.1", "::1"):
            family = "-6" if ":" in address else "-4"
            _ip(family, "addr", "add", address, "dev", "lo")
    resolv_conf.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    subprocess.run(["mount", "--bind", str(resolv_conf), "/etc/resolv.conf"], check=True)


async def _serve(scenarios: Scenarios, events: IO[str]) -> None:
    def log(**event: Any) -> None:
        events.write(json.dumps({**event, "at": time.monotonic()}) + "\n")

    rebinding = {
        name: Rebinding(first=answers["first"], then=answers["then"])
        for name, answers in scenarios.items()
    }

    def answers(name: str, qtype: str) -> Sequence[str]:
        found = rebinding[name](name, qtype) if name in rebinding else []
        log(event="query", name=name, qtype=qtype, answer=list(found))
        return found

    def accepted(address: str) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            log(event="accept", address=address, peer=str(writer.get_extra_info("peername")))
            writer.close()

        return handle

    def handshake(connection: ServerConnection, request: Request) -> Response | None:
        log(event="handshake", host=request.headers.get("Host", ""))
        if request.headers.get("Origin") == ALLOWED:
            return None
        return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")

    async def hold(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(dns_server(answers, "127.0.0.1", 53))
        for address in LISTENING:
            server = await asyncio.start_server(accepted(address), address, PORT)
            stack.push_async_callback(server.wait_closed)
            stack.callback(server.close)
        allowed = serve(hold, ALLOWED_ADDRESS, PORT, process_request=handshake)
        await stack.enter_async_context(allowed)
        print("ready", flush=True)
        await asyncio.Event().wait()


@dataclass(frozen=True)
class IsolatedNetwork:
    pid: int  # the namespace's first process
    events_file: Path

    def events(self, kind: str) -> list[dict[str, Any]]:
        lines = self.events_file.read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["event"] == kind]

    def run(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Runs `command` inside the namespace (its network and its resolv.conf)."""
        return subprocess.run(
            ["nsenter", "--target", str(self.pid), "--net", "--mount", "--", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def unavailable() -> str | None:
    """Why no namespace can be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("unshare", "nsenter", "ip", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux, iproute2)"
    return None


@contextlib.contextmanager
def isolated_network(scenarios: Scenarios) -> Iterator[IsolatedNetwork]:
    with tempfile.TemporaryDirectory(prefix="wsaudit-netns-") as directory:
        events = Path(directory) / "events.jsonl"
        events.touch()
        tests = Path(__file__).resolve().parents[1]
        process = subprocess.Popen(
            [
                "unshare",
                "--net",
                "--mount",
                "--",
                sys.executable,
                "-m",
                "support.netns",
                json.dumps(scenarios),
                str(events),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), *sys.path])},
        )
        try:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise AssertionError(f"the network namespace did not start ({process.wait()})")
            yield IsolatedNetwork(process.pid, events)
        finally:
            process.terminate()
            process.wait(10)


def main(argv: Sequence[str]) -> None:
    scenarios: Scenarios = json.loads(argv[0])
    with tempfile.TemporaryDirectory() as directory, open(argv[1], "a", buffering=1) as events:
        _set_up_namespace(Path(directory) / "resolv.conf")
        asyncio.run(_serve(scenarios, events))


if __name__ == "__main__":
    main(sys.argv[1:])

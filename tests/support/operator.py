"""`wsaudit run` as a real process against the local control plane, and WebSocket servers
on a background event loop for synchronous e2e tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from . import manifests
from .cluster import Cluster
from .processes import free_port
from .servers import Running


class OperatorProcess:
    def __init__(
        self, cluster: Cluster, log: Path, *args: str, kubeconfig: Path | None = None
    ) -> None:
        self.metrics_port, self.health_port = free_port(), free_port()
        self.log = log
        env = {**os.environ, "KUBECONFIG": str(kubeconfig or cluster.kubeconfig)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wsaudit.cli",
                "run",
                "--allow-private",
                "--bind-address",
                "127.0.0.1",
                "--metrics-port",
                str(self.metrics_port),
                "--health-port",
                str(self.health_port),
                *args,
            ],
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"wsaudit run exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=1)
                return
            time.sleep(0.2)
        raise AssertionError(f"wsaudit run not healthy:\n{self.log.read_text()[-3000:]}")

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
            return text

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class BackgroundServers:
    """Async servers (support.servers) kept running on their own loop and thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.stack = contextlib.AsyncExitStack()

    def start(self, server: AbstractAsyncContextManager[Running]) -> Running:
        future = asyncio.run_coroutine_threadsafe(self.stack.enter_async_context(server), self.loop)
        return future.result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stack.aclose(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def wait_for(condition: Callable[[], Any], timeout: float = 60, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(every)


def endpoint(name: str, url: str, **spec: Any) -> str:
    """A WebSocketEndpoint as JSON, for kubectl apply -f -."""
    return json.dumps(manifests.endpoint(name, url, **spec))


def condition(cluster: Cluster, namespace: str, name: str, kind: str) -> dict[str, Any] | None:
    done = cluster.kubectl("-n", namespace, "get", "wse", name, "-o", "json", check=False)
    if done.returncode != 0:
        return None
    for item in json.loads(done.stdout).get("status", {}).get("conditions", []):
        if item["type"] == kind:
            found: dict[str, Any] = item
            return found
    return None


@contextlib.contextmanager
def running_operator(cluster: Cluster, log: Path, *args: str) -> Iterator[OperatorProcess]:
    operator = OperatorProcess(cluster, log, *args)
    try:
        yield operator
    finally:
        operator.stop()


# kopf announces peers every few seconds; peers that start together may each probe before
# they meet.
PEERING_SETTLE = 15


def probes_total(operator: OperatorProcess) -> float:
    """The operator's wsaudit_probes_total over every result."""
    found = re.findall(
        r'^wsaudit_probes_total\{result="\w+"\} ([0-9.e+]+)$', operator.metrics(), re.MULTILINE
    )
    return sum(float(value) for value in found)


def the_one_probing(operators: Sequence[OperatorProcess]) -> OperatorProcess:
    """After the peers had time to meet, exactly one operator's probe count moves: that
    one (asserted)."""
    time.sleep(PEERING_SETTLE)
    before = [probes_total(o) for o in operators]
    wait_for(lambda: sum(probes_total(o) for o in operators) >= sum(before) + 4, timeout=60)
    moved = [o for o, count in zip(operators, before, strict=True) if probes_total(o) > count]
    assert len(moved) == 1, [(c, probes_total(o)) for o, c in zip(operators, before, strict=True)]
    return moved[0]

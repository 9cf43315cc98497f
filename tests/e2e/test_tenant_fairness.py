"""Issue 12: one tenant's hundred tarpit endpoints leave another tenant's probes on time.

Tenant A (a user with a client certificate, RBAC for WebSocketEndpoints in their namespace)
creates 100 endpoints whose server accepts connections and never answers, with the CRD's
maximum timeout; tenant B has a few healthy endpoints. The operator runs with its default
limits (20 probes at once, 5 per namespace). B's probes are timed by B's own servers (when
each probe's allowed-Origin handshake arrives) and by the operator's metrics (when it
finished), first without A, then beside A's tarpits; the operator's /healthz, answered by its
event loop, is sampled every 50 ms throughout."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.cluster import Cluster
from support.hostile import percentile
from support.manifests import endpoint
from support.operator import BackgroundServers, OperatorProcess, running_operator, wait_for
from support.servers import ALLOWED, OriginPolicy, Running, websocket_server
from support.tenants import Tenant, create_tenant
from wsaudit.schedule import JITTER
from wsaudit.settings import RunSettings
from wsaudit.slots import default_per_namespace

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

TARPITS = 100
STEADY = 4  # tenant B's endpoints
INTERVAL = 10.0  # the CRD's minimum, B's interval
MAX_TIMEOUT = "2m"  # the CRD's maximum probe timeout (api/models.py), A's
A_INTERVAL = "3m"  # must exceed the timeout
WINDOW = 25.0  # about two of B's periods
A_SHARE = default_per_namespace(RunSettings().max_concurrent_probes)


@dataclass
class Tarpit:
    """Accepts connections and never answers; counts those open now and at most."""

    open_now: int = 0
    most: int = 0
    accepted: int = 0

    async def hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_now += 1
        self.accepted += 1
        self.most = max(self.most, self.open_now)
        try:
            await reader.read()  # until the prober gives up and closes
        finally:
            self.open_now -= 1
            writer.close()


@contextlib.asynccontextmanager
async def tarpit_server(tarpit: Tarpit) -> AsyncIterator[Running]:
    server = await asyncio.start_server(tarpit.hold, "127.0.0.1", 0)
    try:
        yield Running(server.sockets[0].getsockname()[1])
    finally:
        server.close()


@dataclass
class Timeline:
    """B's probes as B's servers and the operator saw them (wall clock, as the metric's)."""

    started: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    finished: dict[str, set[float]] = field(default_factory=lambda: defaultdict(set))
    healthz: list[tuple[float, float]] = field(default_factory=list)  # (when, answer seconds)

    def policy(self, name: str) -> OriginPolicy:
        """B's server policy: the allowed Origin only, and each probe's start recorded (a
        probe opens with one allowed-Origin handshake)."""

        def allows(origin: str | None) -> bool:
            if origin == ALLOWED:
                self.started[name].append(time.time())
            return origin == ALLOWED

        return allows

    def probes(self, since: float, until: float) -> tuple[list[float], list[float]]:
        """Latencies (start to finish) and periods (start to next start) of the probes that
        started in [since, until)."""
        latencies, periods = [], []
        for name, starts in self.started.items():
            window = [s for s in starts if since <= s < until]
            periods += [later - earlier for earlier, later in itertools.pairwise(window)]
            for start in window:
                ends = [f for f in self.finished[name] if f >= start]
                if ends:
                    latencies.append(min(ends) - start)
        return latencies, periods

    def answers(self, since: float, until: float) -> list[float]:
        return [seconds for when, seconds in self.healthz if since <= when < until]


@contextlib.contextmanager
def sampling(operator: OperatorProcess, timeline: Timeline, namespace: str) -> Iterator[None]:
    """/healthz every 50 ms; B's last-probe timestamps from /metrics every 500 ms."""
    stop = threading.Event()

    def healthz() -> None:
        url = f"http://127.0.0.1:{operator.health_port}/healthz"
        while not stop.wait(0.05):
            asked = time.time()
            with urllib.request.urlopen(url, timeout=10) as answer:
                answer.read()
            timeline.healthz.append((asked, time.time() - asked))

    def finishes() -> None:
        while not stop.wait(0.5):
            for family in text_string_to_metric_families(operator.metrics()):
                if family.name != "wsaudit_endpoint_last_probe_timestamp_seconds":
                    continue
                for sample in family.samples:
                    if sample.labels["namespace"] == namespace:
                        timeline.finished[sample.labels["name"]].add(sample.value)

    threads = [threading.Thread(target=t, daemon=True) for t in (healthz, finishes)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)


def apply_all(tenant: Tenant, manifests: list[dict[str, object]]) -> None:
    bulk = {"apiVersion": "v1", "kind": "List", "items": manifests}
    tenant.kubectl("apply", "-f", "-", stdin=json.dumps(bulk))


def test_a_tenants_tarpits_leave_another_tenants_probes_on_time(
    cluster: Cluster, crds: None, servers: BackgroundServers, tmp_path: Path
) -> None:
    tarpit = Tarpit()
    pit = servers.start(tarpit_server(tarpit))
    timeline = Timeline()
    a = create_tenant(cluster, "tarpits")
    b = create_tenant(cluster, "steady")
    steady = {
        f"steady-{i}": servers.start(websocket_server(timeline.policy(f"steady-{i}")))
        for i in range(STEADY)
    }
    with (
        running_operator(cluster, tmp_path / "wsaudit.log") as operator,
        sampling(operator, timeline, b.namespace),
    ):
        apply_all(
            b,
            [
                endpoint(name, server.url(path="/ws"), interval=f"{INTERVAL:g}s", timeout="5s")
                for name, server in steady.items()
            ],
        )
        wait_for(lambda: all(timeline.finished[name] for name in steady), timeout=60)
        alone_since = time.time()
        time.sleep(WINDOW)
        alone_until = time.time()

        tarpits = [
            endpoint(f"pit-{i}", pit.url(path=f"/ws/{i}"), interval=A_INTERVAL, timeout=MAX_TIMEOUT)
            for i in range(TARPITS)
        ]
        apply_all(a, tarpits)
        wait_for(lambda: tarpit.open_now >= A_SHARE, timeout=60)  # A holds its share
        beside_since = time.time()
        time.sleep(WINDOW)
        beside_until = time.time()
        holding = tarpit.open_now
        a.kubectl("delete", "wse", "--all", "--wait=false")

    alone_latency, alone_period = timeline.probes(alone_since, alone_until)
    latency, period = timeline.probes(beside_since, beside_until)
    alone_answers = timeline.answers(alone_since, alone_until)
    answers = timeline.answers(beside_since, beside_until)
    assert len(alone_period) >= STEADY, alone_period
    # Without a share per namespace, A's tarpits hold every slot for 2 minutes: no probe of
    # B starts in the window.
    assert len(period) >= STEADY, f"B's probes beside A's tarpits: periods {period}"
    print(
        f"B alone: latency {max(alone_latency):.2f} s at most, period "
        f"{min(alone_period):.1f}-{max(alone_period):.1f} s, /healthz p99 "
        f"{percentile(alone_answers, 0.99) * 1000:.0f} ms, worst {max(alone_answers) * 1000:.0f} ms"
    )
    print(
        f"B beside {TARPITS} tarpits of A (A holding {holding} connections, at most "
        f"{tarpit.most}): latency {max(latency):.2f} s at most, period {min(period):.1f}-"
        f"{max(period):.1f} s, /healthz p99 {percentile(answers, 0.99) * 1000:.0f} ms, worst "
        f"{max(answers) * 1000:.0f} ms ({len(answers)} samples)"
    )
    # A's tarpits are being probed, each holding a slot for the whole 2 minutes, and A
    # never holds more than its share of the 20.
    assert holding == A_SHARE
    assert tarpit.most == A_SHARE
    # B probes as often as its interval says, each probe as fast as alone.
    assert max(latency) <= 2 * max(alone_latency), (latency, alone_latency)
    assert max(period) <= INTERVAL * (1 + JITTER) + 2 * max(alone_latency), period
    # The operator's event loop answers as it does without A.
    assert max(answers) <= max(0.5, 2 * max(alone_answers)), answers

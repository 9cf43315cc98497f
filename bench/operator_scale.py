"""The operator at scale on the local control plane: N WebSocketEndpoints against fast
local WebSocket servers; prints when all were first probed, how late the probes ran, what
the operator and kube-apiserver cost, and what the operator asked of the API server.

Usage: python bench/operator_scale.py --endpoints 1000 --endpoints 3000
           [--interval 60] [--intervals 3] [--servers 2] [--namespaces 10]
           [--operator-path DIR] [--operator-arg=--max-concurrent-probes=20 ...]

For each N: a fresh control plane (hack/cluster.sh), `--servers` WebSocket server
processes on loopback addresses of their own (the strict Origin policy, so that every probe
runs the full Origin matrix, nine refusals and one upgrade), the operator as a process
(tests/support/operator.py; `--operator-path DIR` runs the `wsaudit` package found in DIR
instead, e.g. `git archive <commit> operator | tar -x -C /tmp/before` for a before/after),
then N endpoints created in `--namespaces` namespaces while it runs.

Phases and figures:
- create: N endpoints created by 16 client threads; `first_probed_s` from the first create
  until every endpoint's server saw its first probe.
- steady: `--intervals` intervals after every endpoint was probed once. Lateness is, per
  endpoint, how much each gap between two probes exceeds interval * 1.1 (the jitter's
  upper bound), as the servers timed the allowed-Origin handshake (CLOCK_MONOTONIC, one
  clock for every process); `early` counts gaps under interval * 0.9 (extra probes). CPU
  is /proc/<pid>/stat deltas in % of one core; API requests per second by verb and the
  status writes and Events per endpoint and interval are kube-apiserver's
  `apiserver_request_total` deltas (the bench's own reads of /metrics are a GET each).
- restart: the operator stopped and started again; the most probes in any 5 s of the
  first interval after it (`burst_5s`, against N / interval * 5 in steady state), when
  every endpoint was probed again, and the lateness of the gap across the restart.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from kubernetes import client, config
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as websocket_serve
from websockets.http11 import Request, Response

from wsaudit.schedule import JITTER

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.cluster import Cluster, binaries_dir  # noqa: E402
from support.hostile import percentile  # noqa: E402
from support.manifests import endpoint  # noqa: E402
from support.operator import OperatorProcess  # noqa: E402
from support.servers import ALLOWED  # noqa: E402

SERVER_ADDRESSES = "127.0.70.{}"  # off the control plane's 127.0.60.1 and 127.0.62.0/24
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REQUEST = re.compile(r"^apiserver_request_total\{(.*)\} ([0-9.e+]+)$", re.MULTILINE)
LABEL = re.compile(r'(\w+)="([^"]*)"')


# --- the WebSocket servers (this file run with --serve) ---


def serve(address: str, port: int, record: Path) -> None:
    """A strict-Origin WebSocket server; appends `path time` for each allowed-Origin
    handshake to `record` (each probe makes exactly one)."""

    async def main() -> None:
        lines: list[str] = []

        def check_origin(connection: ServerConnection, request: Request) -> Response | None:
            if request.headers.get("Origin") == ALLOWED:
                lines.append(f"{request.path} {time.monotonic():.3f}\n")
                return None
            return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")

        async def echo(connection: ServerConnection) -> None:
            with contextlib.suppress(Exception):
                async for message in connection:
                    await connection.send(message)

        async with websocket_serve(echo, address, port, process_request=check_origin):
            with record.open("a") as output:
                print("listening", flush=True)
                while True:
                    await asyncio.sleep(0.5)
                    output.writelines(lines)
                    output.flush()
                    lines.clear()

    asyncio.run(main())


@dataclass
class Servers:
    processes: list[subprocess.Popen[bytes]]
    records: list[Path]
    urls: list[str]

    def probes(self) -> dict[str, list[float]]:
        """Every probe so far: when each endpoint's server saw it, by endpoint path."""
        found: dict[str, list[float]] = defaultdict(list)
        for record in self.records:
            for line in record.read_text().splitlines():
                path, at = line.rsplit(" ", 1)
                found[path].append(float(at))
        return found


@contextlib.contextmanager
def servers(count: int, directory: Path) -> Iterator[Servers]:
    running = Servers([], [], [])
    try:
        for number in range(1, count + 1):
            address, port = SERVER_ADDRESSES.format(number), 8080
            record = directory / f"server-{number}.log"
            process = subprocess.Popen(
                [sys.executable, __file__, "--serve", address, str(port), str(record)],
                stdout=subprocess.PIPE,
                env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # see run
            )
            assert process.stdout is not None
            if process.stdout.readline().strip() != b"listening":
                raise RuntimeError(f"server on {address} did not start")
            running.processes.append(process)
            running.records.append(record)
            running.urls.append(f"ws://{address}:{port}")
        yield running
    finally:
        for process in running.processes:
            process.terminate()
            process.wait(10)


# --- what is measured ---


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def api_requests(cluster: Cluster) -> Counter[tuple[str, str, str]]:
    """kube-apiserver's request counts by (verb, resource, subresource)."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    counts: Counter[tuple[str, str, str]] = Counter()
    for labels, value in REQUEST.findall(text):
        found = dict(LABEL.findall(labels))
        key = (found.get("verb", ""), found.get("resource", ""), found.get("subresource", ""))
        counts[key] += int(float(value))
    return counts


@dataclass
class Snapshot:
    at: float
    cpu: dict[str, float]
    requests: Counter[tuple[str, str, str]]

    @classmethod
    def take(cls, cluster: Cluster, pids: dict[str, int]) -> Snapshot:
        return cls(
            time.monotonic(),
            {name: cpu_seconds(pid) for name, pid in pids.items()},
            api_requests(cluster),
        )


def lateness(gaps: Sequence[float], interval: float) -> list[float]:
    return [max(0.0, gap - interval * (1 + JITTER)) for gap in gaps]


def gaps_within(probes: dict[str, list[float]], start: float, end: float) -> list[float]:
    return [
        later - earlier
        for times in probes.values()
        for earlier, later in itertools.pairwise(times)
        if start <= earlier and later <= end
    ]


def figures(values: Sequence[float]) -> str:
    if not values:
        return "none"
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"p50={p50:.1f} p99={p99:.1f} max={max(values):.1f}"


# --- one run ---


def create_endpoints(cluster: Cluster, names: list[tuple[str, str, str]], interval: float) -> None:
    """Creates (namespace, name, url) endpoints from 16 threads, as a bulk apply would."""
    api = client.CustomObjectsApi(config.new_client_from_config(str(cluster.kubeconfig)))

    def create(item: tuple[str, str, str]) -> None:
        namespace, name, url = item
        body = endpoint(name, url, interval=f"{interval:g}s", tls={"required": False})
        api.create_namespaced_custom_object(
            "wsaudit.io", "v1alpha1", namespace, "websocketendpoints", body
        )

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(create, names))


def wait_all_probed(served: Servers, paths: set[str], since: float, limit: float) -> float:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        probed = served.probes()
        if all(any(at >= since for at in probed.get(path, ())) for path in paths):
            return max(min(at for at in probed[path] if at >= since) for path in paths)
        time.sleep(2)
    missing = sum(1 for path in paths if not served.probes().get(path))
    raise RuntimeError(f"{missing} endpoints not probed within {limit:.0f} s")


@dataclass
class Bench:
    """One N: the control plane, the servers, the operator and what is measured of them."""

    count: int
    interval: float
    cluster: Cluster
    served: Servers
    operator: OperatorProcess
    paths: set[str]

    def pids(self) -> dict[str, int]:
        return {
            "operator": self.operator.process.pid,
            "apiserver": int((self.cluster.state_dir / "kube-apiserver.pid").read_text()),
            "etcd": int((self.cluster.state_dir / "etcd.pid").read_text()),
        }

    def snapshot(self) -> Snapshot:
        taken = Snapshot.take(self.cluster, self.pids())
        taken.cpu["servers"] = sum(cpu_seconds(p.pid) for p in self.served.processes)
        return taken

    def stop(self) -> None:
        self.operator.stop()  # the one running: the restart replaces it

    def rss(self) -> str:
        return f"rss_mib={rss_mib(self.operator.process.pid):.0f}"

    def create(self, names: list[tuple[str, str, str]]) -> None:
        started, before = time.monotonic(), self.snapshot()
        create_endpoints(self.cluster, names, self.interval)
        created = time.monotonic() - started
        limit = 6 * self.interval + self.count / 5
        last_first = wait_all_probed(self.served, self.paths, started, limit)
        print(
            f"N={self.count} create: created_s={created:.1f} "
            f"first_probed_s={last_first - started:.1f} {self.rss()}",
            flush=True,
        )
        report_window("create", before, self.snapshot(), self.count, self.interval)

    def steady(self, intervals: int) -> None:
        start = self.snapshot()
        time.sleep(intervals * self.interval)
        end = self.snapshot()
        gaps = gaps_within(self.served.probes(), start.at, end.at)
        early = sum(1 for gap in gaps if gap < self.interval * (1 - JITTER))
        print(
            f"N={self.count} steady: gaps={len(gaps)} lateness_s "
            f"{figures(lateness(gaps, self.interval))} early={early} {self.rss()}",
            flush=True,
        )
        report_window("steady", start, end, self.count, self.interval)

    def restart(self, directory: Path, operator_args: Sequence[str]) -> None:
        self.operator.stop()
        stopped = time.monotonic()
        before = self.served.probes()
        self.operator = OperatorProcess(self.cluster, directory / "restarted.log", *operator_args)
        restarted = time.monotonic()
        last_again = wait_all_probed(self.served, self.paths, restarted, 3 * self.interval)
        time.sleep(max(0.0, restarted + self.interval - time.monotonic()))
        after = self.served.probes()
        window = sorted(
            at
            for times in after.values()
            for at in times
            if restarted <= at < restarted + self.interval
        )
        burst = max(
            (sum(1 for at in window if first <= at < first + 5) for first in window), default=0
        )
        across = [
            min(at for at in after[path] if at >= stopped) - max(before[path])
            for path in self.paths
        ]
        print(
            f"N={self.count} restart: burst_5s={burst} "
            f"(steady {self.count / self.interval * 5:.0f}) "
            f"all_probed_again_s={last_again - restarted:.1f} "
            f"lateness_across_restart_s {figures(lateness(across, self.interval))}",
            flush=True,
        )


def run(count: int, options: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        cluster = Cluster(directory / "cluster", binaries_dir())
        cluster.state_dir.mkdir()
        cluster.script("up")
        stack.callback(cluster.script, "down", check=False)
        crd = ROOT / "crds/wsaudit.io_websocketendpoints.yaml"
        cluster.kubectl("apply", "--server-side", "-f", str(crd))
        cluster.kubectl("wait", "--for=condition=Established", "crd/websocketendpoints.wsaudit.io")
        namespaces = [f"scale-{n}" for n in range(options.namespaces)]
        for namespace in namespaces:
            cluster.kubectl("create", "namespace", namespace)
        served = stack.enter_context(servers(options.servers, directory))
        names = []
        for n in range(count):
            namespace = namespaces[n % len(namespaces)]
            server = served.urls[n % len(served.urls)]
            names.append((namespace, f"e-{n}", f"{server}/{namespace}/e-{n}"))
        if options.operator_path:  # for every operator process (OperatorProcess's env)
            os.environ["PYTHONPATH"] = str(Path(options.operator_path).resolve())
        operator = OperatorProcess(cluster, directory / "operator.log", *options.operator_arg)
        bench = Bench(
            count,
            options.interval,
            cluster,
            served,
            operator,
            {f"/{namespace}/{name}" for namespace, name, _ in names},
        )
        stack.callback(bench.stop)
        bench.create(names)
        bench.steady(options.intervals)
        bench.restart(directory, options.operator_arg)


def report_window(phase: str, start: Snapshot, end: Snapshot, count: int, interval: float) -> None:
    seconds = end.at - start.at
    cpu = " ".join(
        f"{name}={100 * (end.cpu[name] - start.cpu[name]) / seconds:.0f}%" for name in end.cpu
    )
    delta = end.requests - start.requests
    verbs: Counter[str] = Counter()
    for (verb, _resource, _sub), requests in delta.items():
        verbs[verb] += requests
    by_verb = " ".join(f"{verb}={n / seconds:.1f}" for verb, n in sorted(verbs.items()))
    intervals = seconds / interval
    status = delta[("PATCH", "websocketendpoints", "status")]
    events = delta[("POST", "events", "")] + delta[("PATCH", "events", "")]
    print(
        f"N={count} {phase}: {seconds:.0f} s cpu {cpu} api_rps {by_verb} "
        f"status_writes_per_endpoint_interval={status / count / intervals:.3f} "
        f"events_per_endpoint_interval={events / count / intervals:.3f} "
        f"loadavg_1m={os.getloadavg()[0]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
        sys.exit(0)
    # A terminated run still stops its control plane, servers and operator.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, action="append", required=True)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--operator-path", default="")
    parser.add_argument("--operator-arg", action="append", default=[])
    parsed = parser.parse_args()
    for number in parsed.endpoints:
        run(number, parsed)

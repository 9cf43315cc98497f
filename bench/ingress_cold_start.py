"""Cold start of the Ingress audit: N annotated Ingresses on the local control plane, the
operator started, the time until every Ingress's wsaudit_ingress_findings series is
exported, the operator's CPU and RSS, the Ingress Events posted, and the latency of a few
Ingress edits to their metric (p50/p99).

Usage: python bench/ingress_cold_start.py [--ingresses 1000 3000 10000] [--edits 20]
       [--source DIR] [--timeout 1800] [--settle 30]

The Ingresses are the Ingress fixtures of every controller (tests/fixtures/ingress/) with
their IngressClasses, Services and ConfigMaps, spread over 10 namespaces, each annotated
wsaudit.io/websocket=true and given a finding of its own (an ingress-nginx read timeout of
60 s: a timeout finding for ingress-nginx, a foreign-annotation one elsewhere) so that its
audit shows as a series. One control plane serves every size: the Ingresses of the smaller
sizes stay, so each start after the first finds the Events it posted before (and should post
none for them). `--source DIR` runs the operator package in DIR/operator (for example a
`git worktree` of an older commit) to compare before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from kubernetes import client, config  # noqa: E402

from support.cluster import Cluster, binaries_dir  # noqa: E402
from support.operator import OperatorProcess  # noqa: E402
from wsaudit.audit import AuditSettings  # noqa: E402
from wsaudit.audit.manifests import audit_documents, parse_stream  # noqa: E402

NAMESPACES = [f"bench-ingress-{i}" for i in range(10)]
FIXTURES = ROOT / "tests" / "fixtures" / "ingress"
BESIDE = ("IngressClass", "Service", "ConfigMap")  # what the Ingresses' controllers read
READ_TIMEOUT = "nginx.ingress.kubernetes.io/proxy-read-timeout"
NGINX_RULE = "ingress-nginx.proxy-read-timeout"
SERIES = re.compile(r'^wsaudit_ingress_findings\{[^}]*ingress="([^"]+)",namespace="([^"]+)"')
OUR_REASONS = ("WebSocketMisconfigured", "WebSocketReady")


def templates() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The fixtures' Ingresses (each with a finding) and the objects beside them."""
    documents = [
        doc
        for path in sorted(FIXTURES.glob("*.yaml"))
        for doc in parse_stream(path.read_text(), path.name)
    ]
    ingresses, beside = [], []
    for doc in documents:
        obj = doc.obj
        if obj.get("kind") == "Ingress":
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations.update({"wsaudit.io/websocket": "true", READ_TIMEOUT: "60"})
            ingresses.append(obj)
        elif obj.get("kind") in BESIDE:
            beside.append(obj)
    audited = audit_documents(
        parse_stream(json.dumps({"kind": "List", "items": ingresses + beside}), "templates"),
        AuditSettings(),
    )
    assert all(a.findings for a in audited), "every template needs a finding to show as a series"
    return ingresses, beside


def instance(template: dict[str, Any], index: int) -> tuple[str, dict[str, Any]]:
    body = json.loads(json.dumps(template))
    body["metadata"]["name"] = f"{template['metadata']['name']}-{index}"
    body["metadata"].pop("namespace", None)
    return NAMESPACES[index % len(NAMESPACES)], body


def prepare(cluster: Cluster, beside: list[dict[str, Any]]) -> None:
    for namespace in NAMESPACES:
        cluster.kubectl("create", "namespace", namespace)
    for obj in beside:
        if obj["kind"] == "IngressClass":
            cluster.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
            continue
        anywhere = json.loads(json.dumps(obj))
        anywhere["metadata"].pop("namespace", None)
        for namespace in NAMESPACES:
            cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=json.dumps(anywhere))


def create(
    api: client.NetworkingV1Api, ingresses: list[dict[str, Any]], first: int, last: int
) -> float:
    """Creates Ingresses first..last-1 from 16 threads; returns the seconds taken."""
    started = time.monotonic()

    def one(index: int) -> None:
        namespace, body = instance(ingresses[index % len(ingresses)], index)
        api.create_namespaced_ingress(namespace, body, _preload_content=False)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(first, last)))
    return time.monotonic() - started


def scrape(operator: OperatorProcess) -> str:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())


def audited(text: str) -> set[tuple[str, str]]:
    return {(m[2], m[1]) for line in text.splitlines() if (m := SERIES.match(line))}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def our_events(core: client.CoreV1Api) -> int:
    listed = json.loads(
        core.list_event_for_all_namespaces(
            field_selector="involvedObject.kind=Ingress", _preload_content=False
        ).data
    )
    return sum(1 for e in listed["items"] if e.get("reason") in OUR_REASONS)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def edit_latencies(
    operator: OperatorProcess,
    api: client.NetworkingV1Api,
    ingresses: list[dict[str, Any]],
    count: int,
    edits: int,
) -> tuple[list[float], list[float]]:
    """Toggles the read timeout of ingress-nginx Ingresses (3600 s clears their timeout
    finding, 60 s brings it back); the time from the PATCH to the first scrape that shows
    it. Returns the latencies and the scrape durations (the resolution)."""
    nginx = [
        i
        for i in range(count)
        if ingresses[i % len(ingresses)]["spec"].get("ingressClassName") == "nginx"
    ]
    latencies, scrapes = [], []
    for edit in range(edits):
        namespace, body = instance(ingresses[nginx[edit] % len(ingresses)], nginx[edit])
        name = body["metadata"]["name"]
        series = f'ingress="{name}",namespace="{namespace}",rule="{NGINX_RULE}"'
        for value, present in (("3600", False), ("60", True)):
            sent = time.monotonic()
            api.patch_namespaced_ingress(
                name, namespace, {"metadata": {"annotations": {READ_TIMEOUT: value}}}
            )
            while True:
                started = time.monotonic()
                text = scrape(operator)
                scrapes.append(time.monotonic() - started)
                # The collector copies its state when the scrape starts: the edit was
                # there by then (an upper bound, within one scrape of the truth).
                if (series in text) == present:
                    latencies.append(started - sent)
                    break
                if time.monotonic() - sent > 60:
                    raise AssertionError(f"edit of {namespace}/{name} not seen within 60 s")
    return latencies, scrapes


def cold_start(
    cluster: Cluster, count: int, options: argparse.Namespace, ingresses: list[dict[str, Any]]
) -> None:
    api_client = config.new_client_from_config(str(cluster.kubeconfig))
    networking, core = client.NetworkingV1Api(api_client), client.CoreV1Api(api_client)
    events_before = our_events(core)
    apiserver = int((cluster.state_dir / "kube-apiserver.pid").read_text())
    keys = set()
    for index in range(count):
        namespace, body = instance(ingresses[index % len(ingresses)], index)
        keys.add((namespace, body["metadata"]["name"]))
    if options.source:
        os.environ["PYTHONPATH"] = str(Path(options.source).resolve() / "operator")
    log = Path(tempfile.mkdtemp(prefix="ingress-cold-start-")) / "wsaudit.log"
    load = os.getloadavg()
    apiserver_cpu = cpu_seconds(apiserver)
    started = time.monotonic()
    operator = OperatorProcess(cluster, log)
    try:
        while True:
            scraped = time.monotonic()
            seen = audited(scrape(operator)) & keys
            # A scrape of 10,000 Ingresses' series costs the operator 0.3 s: at most a
            # fifth of its time goes to being watched.
            period = max(0.5, 5 * (time.monotonic() - scraped))
            if len(seen) == count:
                break
            if time.monotonic() - started > options.timeout:
                raise AssertionError(
                    f"{len(seen)} of {count} audited after {options.timeout} s; log: {log}"
                )
            time.sleep(max(0.0, period - (time.monotonic() - scraped)))
        elapsed = scraped - started
        cpu, rss = cpu_seconds(operator.process.pid), rss_mib(operator.process.pid)
        apiserver_used = cpu_seconds(apiserver) - apiserver_cpu
        latencies, scrapes = edit_latencies(operator, networking, ingresses, count, options.edits)
        time.sleep(5)  # Events posted at the end of the start are counted too
        posted = our_events(core) - events_before
        settled_rss = rss_mib(operator.process.pid)
    finally:
        operator.stop()
    source = options.source or "this checkout"
    print(f"ingresses={count} load_before={load[0]:.2f},{load[1]:.2f} source={source}")
    print(
        f"  all_audited_s={elapsed:.1f} per_1000_s={elapsed / count * 1000:.2f} "
        f"(resolution {period:.1f} s)"
    )
    print(
        f"  operator_cpu_s={cpu:.1f} ({cpu / elapsed * 100:.0f} % of a core) "
        f"rss_mib={rss:.0f} after_edits_rss_mib={settled_rss:.0f}"
    )
    print(
        f"  apiserver_cpu_s={apiserver_used:.1f} ({apiserver_used / elapsed * 100:.0f} % of a core)"
    )
    print(
        f"  edit_to_metric_s p50={percentile(latencies, 0.5):.2f} "
        f"p99={percentile(latencies, 0.99):.2f} max={max(latencies):.2f} (n={len(latencies)}; "
        f"scrape p50={percentile(scrapes, 0.5) * 1000:.0f} ms)"
    )
    print(f"  ingress_events_posted={posted} (edits: {2 * options.edits})")
    print(f"  ratio_to_target_20s={elapsed / 20:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingresses", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--source", help="a checkout whose operator/ to run (default: this one)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--settle", type=float, default=30, help="pause after creating")
    options = parser.parse_args()
    ingresses, beside = templates()
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="ingress-cold-start-cluster-")), binaries_dir())
    cluster.script("up")
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        prepare(cluster, beside)
        networking = client.NetworkingV1Api(config.new_client_from_config(str(cluster.kubeconfig)))
        created = 0
        for count in sorted(options.ingresses):
            seconds = create(networking, ingresses, created, count)
            print(
                f"created {count - created} Ingresses in {seconds:.0f} s "
                f"({len(ingresses)} templates); settling {options.settle:g} s",
                flush=True,
            )
            time.sleep(options.settle)  # the creation's own load (etcd, API server) passes
            created = count
            cold_start(cluster, count, options, ingresses)
    finally:
        cluster.script("down")


if __name__ == "__main__":
    main()

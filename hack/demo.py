"""`make demo`: the whole story on a local control plane, in one command.

Starts (or reuses) etcd and kube-apiserver, installs the CRDs, runs the operator with the
admission webhook, starts WebSocket servers on loopback that reproduce each real failure
(one of them behind real nginx that drops the upgrade, one behind nginx with a short read
timeout), applies WebSocketEndpoints and Ingresses for them, and prints what wsaudit finds
as it settles. Runs until Ctrl-C, then removes everything it started.

    python hack/demo.py [--once] [--nginx-read-timeout 60]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import trustme  # noqa: E402

from support.cluster import Cluster, binaries_dir  # noqa: E402
from support.manifests import endpoint, nginx_ingress  # noqa: E402
from support.nginx import free_port, nginx_proxy  # noqa: E402
from support.operator import BackgroundServers, OperatorProcess, wait_for  # noqa: E402
from support.servers import ALLOWED, websocket_server  # noqa: E402
from support.tls import server_context  # noqa: E402

NAMESPACE = "demo"
STORY = "demo.wsaudit.io/story"
BOLD, DIM, RED, GREEN, YELLOW, RESET = (
    "\033[1m",
    "\033[2m",
    "\033[31m",
    "\033[32m",
    "\033[33m",
    "\033[0m",
)
if not sys.stdout.isatty():
    BOLD = DIM = RED = GREEN = YELLOW = RESET = ""


def step(text: str) -> None:
    print(f"\n{BOLD}==> {text}{RESET}", flush=True)


def note(text: str) -> None:
    print(f"    {DIM}{text}{RESET}", flush=True)


def sample(name: str, url: str, story: str, **spec: Any) -> dict[str, Any]:
    """A demo endpoint: what it reproduces is kept in an annotation for the report."""
    return endpoint(name, url, annotations={STORY: story}, interval="15s", **spec)


def webhook_configuration(port: int, ca_pem: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "wsaudit-demo"},
        "webhooks": [
            {
                "name": "ingresses.wsaudit.io",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{port}/validate-ingress",
                    "caBundle": base64.b64encode(ca_pem).decode(),
                },
                "rules": [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["ingresses"],
                    }
                ],
                "failurePolicy": "Ignore",
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }
        ],
    }


class Demo:
    def __init__(self, state: Path, read_timeout: int) -> None:
        self.state = state
        self.read_timeout = read_timeout
        self.stack = contextlib.ExitStack()
        self.cluster = Cluster(state / "cluster", binaries_dir())

    def kubectl(self, *args: str, manifest: dict[str, Any] | None = None) -> str:
        stdin = json.dumps(manifest) if manifest is not None else None
        done = self.cluster.kubectl(*args, stdin=stdin, check=False)
        if done.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout + done.stderr

    def start(self) -> None:
        step("Building or reusing the local control plane (a cold build takes minutes)")
        self.cluster.script("up")
        self.stack.callback(self.cluster.script, "down", check=False)
        note(f"kube-apiserver ready; KUBECONFIG={self.cluster.kubeconfig}")
        self.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        self.kubectl("wait", "--for=condition=Established", "crd/websocketendpoints.wsaudit.io")
        self.kubectl("create", "namespace", NAMESPACE)

        step("Starting WebSocket servers on loopback, each with a real failure")
        ca = trustme.CA()
        ca_file = self.state / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        servers = BackgroundServers()
        self.stack.callback(servers.close)
        tls = server_context(ca, "localhost")
        healthy = servers.start(websocket_server("strict", ssl_context=tls))
        any_origin = servers.start(websocket_server("none", ssl_context=tls))
        prefix = servers.start(websocket_server("prefix", ssl_context=tls))
        plain = servers.start(websocket_server("strict"))
        backend = servers.start(websocket_server("strict"))
        dropping = self.stack.enter_context(
            nginx_proxy(self.state / "nginx-drop", backend.port, "no-upgrade")
        )
        timing_out = self.stack.enter_context(
            nginx_proxy(
                self.state / "nginx-timeout",
                backend.port,
                "short-read-timeout",
                read_timeout=f"{self.read_timeout}s",
            )
        )
        note(
            "nginx (Debian's) proxies two of them: one without Upgrade/Connection, one "
            f"with proxy_read_timeout {self.read_timeout}s"
        )

        step("Running the operator (wsaudit run) with the admission webhook in warn mode")
        webhook_port = free_port()
        cert = ca.issue_cert("127.0.0.1")
        cert_file, key_file = self.state / "webhook.crt", self.state / "webhook.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        operator = OperatorProcess(
            self.cluster,
            self.state / "operator.log",
            "--webhook",
            "warn",
            "--webhook-port",
            str(webhook_port),
            "--webhook-cert",
            str(cert_file),
            "--webhook-key",
            str(key_file),
            "--log-format",
            "json",
        )
        self.stack.callback(operator.stop)
        self.operator = operator
        self.kubectl(
            "apply", "-f", "-", manifest=webhook_configuration(webhook_port, ca.cert_pem.bytes())
        )
        self.stack.callback(
            self.kubectl, "delete", "validatingwebhookconfiguration", "wsaudit-demo"
        )
        note(
            f"metrics on http://127.0.0.1:{operator.metrics_port}/metrics, log in "
            f"{self.state / 'operator.log'}"
        )

        self.kubectl(
            "-n",
            NAMESPACE,
            "create",
            "secret",
            "generic",
            "demo-ca",
            f"--from-file=ca.crt={ca_file}",
        )
        # wsaudit reads only Secrets that opt in (docs/operator.md#security-model).
        self.kubectl(
            "-n", NAMESPACE, "label", "secret", "demo-ca", "wsaudit.io/probe-credential=true"
        )
        ca_ref = {"caSecretRef": {"name": "demo-ca", "key": "ca.crt"}}
        self.endpoints = [
            sample(
                "healthy",
                healthy.url("wss", host="localhost"),
                "wss with a strict origin allow-list",
                tls=ca_ref,
            ),
            sample(
                "any-origin",
                any_origin.url("wss", host="localhost"),
                "accepts every Origin (CSWSH)",
                tls=ca_ref,
            ),
            sample(
                "prefix-bug",
                prefix.url("wss", host="localhost"),
                "checks the Origin with startswith()",
                tls=ca_ref,
            ),
            sample("plaintext", plain.url(), "served over ws://"),
            sample(
                "proxy-drops-upgrade",
                f"ws://127.0.0.1:{dropping}/",
                "behind nginx without Upgrade/Connection",
                tls={"required": False},
            ),
            sample(
                "proxy-timeout",
                f"ws://127.0.0.1:{timing_out}/",
                f"behind nginx cutting idle connections after {self.read_timeout}s",
                tls={"required": False},
                ingressRef={"name": "chat"},
            ),
        ]
        step(
            "Applying an Ingress with ingress-nginx's default 60 s timeouts, referenced by "
            "proxy-timeout"
        )
        self.show_apply(nginx_ingress("chat", {"wsaudit.io/websocket": "true"}))
        step("Applying an Ingress that forces HTTP/1.0 upstream: the webhook warns at apply time")
        nginx = "nginx.ingress.kubernetes.io"
        bad = nginx_ingress(
            "legacy",
            {
                "wsaudit.io/websocket": "true",
                f"{nginx}/proxy-http-version": "1.0",
                f"{nginx}/proxy-read-timeout": "3600",
                f"{nginx}/proxy-send-timeout": "3600",
            },
        )
        self.show_apply(bad)
        step("Applying the WebSocketEndpoints")
        for item in self.endpoints:
            print("    " + self.kubectl("-n", NAMESPACE, "apply", "-f", "-", manifest=item).strip())

    def show_apply(self, manifest: dict[str, Any]) -> None:
        """kubectl apply, printing its output with the webhook's warnings highlighted."""
        output = self.kubectl("-n", NAMESPACE, "apply", "-f", "-", manifest=manifest)
        for line in output.strip().splitlines():
            print(f"    {YELLOW if line.startswith('Warning') else ''}{line}{RESET}")

    def settled(self) -> bool:
        listed = json.loads(self.kubectl("-n", NAMESPACE, "get", "wse", "-o", "json"))
        return len(listed["items"]) == len(self.endpoints) and all(
            item.get("status", {}).get("lastProbeTime") for item in listed["items"]
        )

    def report(self) -> None:
        step("kubectl get wse")
        print(self.kubectl("-n", NAMESPACE, "get", "wse"))
        step("What wsaudit found, per endpoint (cause and fix)")
        listed = json.loads(self.kubectl("-n", NAMESPACE, "get", "wse", "-o", "json"))
        for item in sorted(listed["items"], key=lambda i: i["metadata"]["name"]):
            name = item["metadata"]["name"]
            story = item["metadata"]["annotations"][STORY]
            conditions = {c["type"]: c for c in item["status"]["conditions"]}
            ready = conditions["Ready"]
            colour = GREEN if ready["status"] == "True" else RED
            print(
                f"  {BOLD}{name}{RESET} ({story}): {colour}Ready={ready['status']} "
                f"{ready['reason']}{RESET}"
            )
            for check in item["status"]["checks"]:
                if check["status"] in ("fail", "warn"):
                    print(f"    {check['status'].upper():4} {check['id']}: {check['message']}")
            ingress_condition = conditions.get("IngressConfigured")
            if ingress_condition and ingress_condition["status"] != "True":
                print(f"    FAIL IngressConfigured: {ingress_condition['message']}")
        step("A few lines of /metrics")
        for line in self.operator.metrics().splitlines():
            if (
                line.startswith(
                    (
                        "wsaudit_endpoint_origin_enforced",
                        "wsaudit_endpoint_up",
                        "wsaudit_ingress_findings",
                    )
                )
                and NAMESPACE in line
            ):
                print(f"    {line}")

    def idle_probe(self) -> None:
        step(
            f"wsaudit probe --idle {self.read_timeout + 5}: is a quiet connection cut "
            "behind the second nginx?"
        )
        url = next(
            e["spec"]["url"] for e in self.endpoints if e["metadata"]["name"] == "proxy-timeout"
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "wsaudit.cli",
                "probe",
                url,
                "--allowed-origin",
                ALLOWED,
                "--allow-private",
                "--tls-optional",
                "--idle",
                str(self.read_timeout + 5),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        for line in done.stdout.splitlines():
            if "idle" in line or line.startswith("ws://"):
                print(f"    {line.strip()}")


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupted_cleanly() -> Iterator[None]:
    """Ctrl-C and SIGTERM both end the demo through the same cleanup."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        yield
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="exit after the report")
    parser.add_argument("--nginx-read-timeout", type=int, default=60, metavar="S")
    parser.add_argument("--state", type=Path, default=ROOT / ".cluster" / "demo")
    args = parser.parse_args()
    args.state.mkdir(parents=True, exist_ok=True)
    demo = Demo(args.state, args.nginx_read_timeout)
    with interrupted_cleanly(), demo.stack:
        demo.start()
        step("Waiting for the first probes to settle")
        wait_for(demo.settled, timeout=90, every=1)
        time.sleep(2)
        demo.report()
        demo.idle_probe()
        if not args.once:
            step("Running; the operator keeps probing every 15 s. Ctrl-C stops and cleans up.")
            while True:
                time.sleep(3600)
    print("Cleaned up: operator, servers, nginx and the control plane are stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

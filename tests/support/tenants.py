"""Tenants of the local control plane, as a platform gives them to application teams: a user
with a client certificate signed by the cluster's CA (hack/cluster.sh credentials --user), a
namespace of their own, and RBAC there to manage WebSocketEndpoints and nothing else, except
the Secrets a test lets them read.

    tenant = create_tenant(cluster, "team-a", readable_secrets=["probe-token"])
    tenant.kubectl("apply", "-f", "-", stdin=manifest, check=False)

Namespaces are never deleted (no namespace controller runs), so each tenant gets a unique
user and namespace name."""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from .cluster import Cluster
from .servers import Running

ENDPOINT_VERBS = ["create", "get", "list", "watch", "update", "patch", "delete"]


@dataclass(frozen=True)
class Tenant:
    cluster: Cluster
    user: str
    namespace: str
    kubeconfig: Path  # the user's client certificate

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """kubectl as this user, in their namespace."""
        return self.cluster.run(
            "kubectl",
            "-n",
            self.namespace,
            *args,
            kubeconfig=self.kubeconfig,
            stdin=stdin,
            check=check,
        )

    def may(self, verb: str, resource: str) -> bool:
        """What the API server says this user may do in their namespace (kubectl auth can-i)."""
        done = self.kubectl("auth", "can-i", verb, resource, check=False)
        return done.stdout.strip() == "yes"


def _role(namespace: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": rules,
    }


def _binding(namespace: str, name: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


def create_tenant(cluster: Cluster, label: str, *, readable_secrets: Sequence[str] = ()) -> Tenant:
    """A user `<label>-<random>` with the namespace of the same name: WebSocketEndpoints
    there (every verb an app team's CI needs), and `get` on exactly `readable_secrets`
    (names in that namespace) if any. The Secrets themselves are the admin's to create."""
    name = f"{label}-{uuid.uuid4().hex[:6]}"
    kubeconfig = Path(cluster.script("credentials", "--user", name).stdout.strip())
    cluster.kubectl("create", "namespace", name)
    endpoint_rules = [
        {
            "apiGroups": ["wsaudit.io"],
            "resources": ["websocketendpoints"],
            "verbs": ENDPOINT_VERBS,
        }
    ]
    objects = [
        _role(name, "websocketendpoint-editor", endpoint_rules),
        _binding(name, "websocketendpoint-editor", name),
    ]
    if readable_secrets:
        secret_rules = [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": list(readable_secrets),
                "verbs": ["get"],
            }
        ]
        objects += [
            _role(name, "secret-reader", secret_rules),
            _binding(name, "secret-reader", name),
        ]
    cluster.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    )
    return Tenant(cluster, name, name, kubeconfig)


def create_secret(
    cluster: Cluster, namespace: str, name: str, data: dict[str, str], *, opted_in: bool
) -> None:
    """A Secret created by the cluster admin; `opted_in` labels it for wsaudit."""
    labels = {"wsaudit.io/probe-credential": "true"} if opted_in else {}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "stringData": data,
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(secret))


@dataclass
class Recorder:
    """Every request a recording server received: (path, headers as sent)."""

    requests: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)

    def to(self, path: str) -> list[list[tuple[str, str]]]:
        return [headers for got, headers in self.requests if got.split("?")[0] == path]

    def contains(self, text: str) -> bool:
        """Whether `text` was anywhere in a request line's path or a header."""
        return any(
            text in path or any(text in f"{k}: {v}" for k, v in headers)
            for path, headers in self.requests
        )


@contextlib.asynccontextmanager
async def recording_server(
    recorder: Recorder, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Running]:
    """A WebSocket server (any Origin upgrades) that records every request's headers, the
    tenant's own server that an endpoint's URL points at."""

    def record(connection: ServerConnection, request: Request) -> Response | None:
        recorder.requests.append((request.path, list(request.headers.raw_items())))
        return None

    async def hold(connection: ServerConnection) -> None:
        with contextlib.suppress(Exception):
            await connection.wait_closed()

    async with serve(hold, "127.0.0.1", 0, process_request=record, ssl=ssl_context) as server:
        yield Running(next(iter(server.sockets)).getsockname()[1])

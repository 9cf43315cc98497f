"""A tenant who may write WebSocketEndpoints cannot get a Secret's value out through one.

Tenant A (a user with a client certificate, RBAC for WebSocketEndpoints in their namespace)
points endpoints at a server of the test's own that records every header it receives, and
references Secrets: (a) one A may not read and that did not opt in, (b) one that opted in
(labelled wsaudit.io/probe-credential=true) but A may not read, (c) one A may read and that
opted in. Nothing of (a) or (b) may reach the recorder, the status or the Events."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from support.cluster import Cluster
from support.operator import BackgroundServers, condition, endpoint, running_operator, wait_for
from support.tenants import (
    Recorder,
    Tenant,
    create_secret,
    create_tenant,
    recording_server,
)
from support.tls import server_context
from support.webhook import registered_webhook

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Setup:
    tenant: Tenant
    recorder: Recorder
    base_url: str  # wss://127.0.0.1:<port>, verified with the opted-in CA Secret
    values: dict[str, str]  # Secret name -> the token it holds


# Secret name -> (opted in, tenant A may get it)
SECRETS = {
    "unlabelled-token": (False, False),  # (a)
    "labelled-token": (True, False),  # (b)
    "readable-token": (True, True),  # (c)
    "readable-unlabelled-token": (False, True),
}
CA_SECRET = "probe-ca"


@pytest.fixture
def setup(cluster: Cluster, crds: None, ca: trustme.CA, servers: BackgroundServers) -> Setup:
    readable = [name for name, (_, may_get) in SECRETS.items() if may_get]
    tenant = create_tenant(cluster, "tenant-a", readable_secrets=[*readable, CA_SECRET])
    values = {name: f"secret-{name}-{uuid.uuid4().hex}" for name in SECRETS}
    for name, (opted_in, _) in SECRETS.items():
        data = {"token": values[name]}
        create_secret(cluster, tenant.namespace, name, data, opted_in=opted_in)
    ca_pem = ca.cert_pem.bytes().decode()
    create_secret(cluster, tenant.namespace, CA_SECRET, {"ca.crt": ca_pem}, opted_in=True)
    recorder = Recorder()
    server = servers.start(recording_server(recorder, server_context(ca, "127.0.0.1")))
    return Setup(tenant, recorder, f"wss://127.0.0.1:{server.port}", values)


def with_token(setup: Setup, name: str, secret: str, **spec: object) -> str:
    """An endpoint at <base>/<name> sending `secret`'s token, trusting the opted-in CA."""
    return endpoint(
        name,
        f"{setup.base_url}/{name}",
        auth={"tokenSecretRef": {"name": secret, "key": "token"}},
        tls={"caSecretRef": {"name": CA_SECRET, "key": "ca.crt"}},
        **spec,
    )


def token_arrives(setup: Setup, path: str, secret: str) -> None:
    expected = ("Authorization", f"Bearer {setup.values[secret]}")
    wait_for(lambda: any(expected in headers for headers in setup.recorder.to(path)), timeout=60)


def blocked_message(cluster: Cluster, namespace: str, name: str) -> str:
    ready = wait_for(lambda: condition(cluster, namespace, name, "Ready"), timeout=60)
    assert ready["reason"] == "SecretNotFound", ready
    message: str = ready["message"]
    return message


def assert_nowhere(cluster: Cluster, setup: Setup, *secrets: str) -> None:
    """Not on the wire, not in any endpoint's status, not in any Event of the namespace."""
    namespace = setup.tenant.namespace
    endpoints = cluster.kubectl("-n", namespace, "get", "wse", "-o", "json").stdout
    events = cluster.kubectl("-n", namespace, "get", "events", "-o", "json").stdout
    for secret in secrets:
        value = setup.values[secret]
        assert not setup.recorder.contains(value), secret
        assert value not in endpoints, secret
        assert value not in events, secret


def test_with_the_webhook_a_tenant_gets_out_only_the_secret_it_may_read(
    cluster: Cluster, setup: Setup, ca: trustme.CA, tmp_path: Path
) -> None:
    tenant = setup.tenant
    assert not tenant.may("get", "secret/labelled-token")
    assert tenant.may("get", "secret/readable-token")
    with (
        registered_webhook(cluster, ca, tmp_path) as webhook,
        running_operator(cluster, tmp_path / "wsaudit.log", "--webhook", "warn", *webhook.flags()),
    ):
        for name, secret in (("a", "unlabelled-token"), ("b", "labelled-token")):
            done = tenant.kubectl(
                "apply", "-f", "-", stdin=with_token(setup, name, secret), check=False
            )
            assert done.returncode != 0
            assert (
                f'spec.auth.tokenSecretRef: user "{tenant.user}" may not get Secret '
                f"{tenant.namespace}/{secret}; wsaudit would send its value to spec.url"
            ) in done.stderr

        tenant.kubectl("apply", "-f", "-", stdin=with_token(setup, "c", "readable-token"))
        token_arrives(setup, "/c", "readable-token")  # over wss://, verified with the CA

        # Readable but not opted in: admitted, never read; the status says how to opt in.
        tenant.kubectl(
            "apply", "-f", "-", stdin=with_token(setup, "d", "readable-unlabelled-token")
        )
        message = blocked_message(cluster, tenant.namespace, "d")
        assert (
            f"kubectl label secret -n {tenant.namespace} readable-unlabelled-token "
            "wsaudit.io/probe-credential=true"
        ) in message

        # An endpoint the admin made with a Secret the tenant may not read: the tenant may
        # label it (metadata only), not send that Secret somewhere else.
        admins = with_token(setup, "admins", "labelled-token", suspend=True)
        cluster.kubectl("-n", tenant.namespace, "apply", "-f", "-", stdin=admins)
        tenant.kubectl("label", "wse", "admins", "team=a")
        moved = tenant.kubectl(
            "patch",
            "wse",
            "admins",
            "--type=merge",
            "-p",
            json.dumps({"spec": {"url": f"{setup.base_url}/b", "suspend": False}}),
            check=False,
        )
        assert moved.returncode != 0
        assert "may not get Secret" in moved.stderr

        wait_for(lambda: len(setup.recorder.to("/c")) >= 2, timeout=60)  # one more round
    assert setup.recorder.to("/d") == []
    assert setup.recorder.to("/b") == []
    assert_nowhere(
        cluster, setup, "unlabelled-token", "labelled-token", "readable-unlabelled-token"
    )


def test_without_the_webhook_only_opted_in_secrets_are_read(
    cluster: Cluster, setup: Setup, tmp_path: Path
) -> None:
    tenant = setup.tenant
    log = tmp_path / "wsaudit.log"
    with running_operator(cluster, log):
        # (a) Not opted in: admitted (no webhook), never read, and the status says no more
        # than for a Secret that does not exist.
        tenant.kubectl("apply", "-f", "-", stdin=with_token(setup, "a", "unlabelled-token"))
        tenant.kubectl("apply", "-f", "-", stdin=with_token(setup, "missing", "no-such-secret"))
        unlabelled = blocked_message(cluster, tenant.namespace, "a")
        missing = blocked_message(cluster, tenant.namespace, "missing")
        assert unlabelled.replace("unlabelled-token", "X") == missing.replace("no-such-secret", "X")
        # (b) Opted in: without the webhook the label is the only control, so its owner
        # has made it available to every endpoint writer of the namespace (docs/operator.md).
        tenant.kubectl("apply", "-f", "-", stdin=with_token(setup, "b", "labelled-token"))
        token_arrives(setup, "/b", "labelled-token")
    assert setup.recorder.to("/a") == []
    assert_nowhere(cluster, setup, "unlabelled-token")
    operator_log = log.read_text()
    assert f"Secret {tenant.namespace}/unlabelled-token is not labelled" in operator_log
    assert f"Secret {tenant.namespace}/no-such-secret: HTTP 404" in operator_log

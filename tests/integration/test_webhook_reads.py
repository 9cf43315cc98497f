"""The webhook's API reads against a server in the API server's place that really stalls
some of them: the answer comes within the one read budget, an Ingress without what was not
read (and a warning naming it), a Secret reference denied (the SubjectAccessReview fails
closed)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
import pytest
from aiohttp import web
from kubernetes.config import kube_config

from wsaudit.api.models import SecretKeyRef
from wsaudit.controller import admission
from wsaudit.controller.budget import WEBHOOK_READ_BUDGET
from wsaudit.controller.kube import Requester
from wsaudit.controller.runtime import Runtime
from wsaudit.settings import RunSettings

CONTROLLER_CONFIG = ("ingress-nginx", "ingress-nginx-controller")
INGRESS_CLASS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "IngressClass",
    "metadata": {"name": "public"},
    "spec": {"controller": "k8s.io/ingress-nginx"},
}
# The budget, and the answer's way back on a loaded 2-core machine.
ANSWERED_WITHIN = WEBHOOK_READ_BUDGET + 1.0


@dataclass
class FakeApiServer:
    """Answers IngressClasses; the controller ConfigMap stalls; SubjectAccessReviews get
    `review` (a JSON answer, a status code, or None: stall). Records the reviews."""

    review: Callable[[dict[str, Any]], web.StreamResponse] | None = None
    reviews: list[dict[str, Any]] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def stall(self, _: web.Request) -> web.StreamResponse:
        await self.released.wait()
        return web.json_response({}, status=503)

    async def ingress_classes(self, _: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClassList",
                "metadata": {},
                "items": [INGRESS_CLASS],
            }
        )

    async def subject_access_review(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = await request.json()
        self.reviews.append(body)
        if self.review is None:
            return await self.stall(request)
        return self.review(body)


def allowed_when(user: str) -> Callable[[dict[str, Any]], web.StreamResponse]:
    def answer(review: dict[str, Any]) -> web.StreamResponse:
        allowed = review["spec"]["user"] == user
        return web.json_response({**review, "status": {"allowed": allowed}}, status=201)

    return answer


@pytest.fixture
async def api_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FakeApiServer]:
    fake = FakeApiServer()
    app = web.Application()
    namespace, name = CONTROLLER_CONFIG
    app.router.add_get("/apis/networking.k8s.io/v1/ingressclasses", fake.ingress_classes)
    app.router.add_get(f"/api/v1/namespaces/{namespace}/configmaps/{name}", fake.stall)
    app.router.add_post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews", fake.subject_access_review
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "operator", "user": {}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "operator"}}],
                "current-context": "fake",
            }
        )
    )
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    yield fake
    fake.released.set()
    await runner.cleanup()


def runtime() -> Runtime:
    return Runtime.create(RunSettings(webhook="deny", controller_configs=(CONTROLLER_CONFIG,)))


async def test_a_stalled_read_leaves_the_ingress_answer_within_the_budget(
    api_server: FakeApiServer,
) -> None:
    ingress: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "chat",
            "namespace": "prod",
            "annotations": {
                "wsaudit.io/websocket": "true",
                "nginx.ingress.kubernetes.io/proxy-http-version": "1.0",
            },
        },
        "spec": {
            "ingressClassName": "public",  # known only from the listed IngressClass
            "rules": [
                {
                    "host": "chat.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/ws",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "chat", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
    warnings: list[str] = []
    memo = kopf.Memo(runtime=runtime())
    started = time.monotonic()
    with pytest.raises(kopf.AdmissionError, match=r"ingress-nginx\.proxy-http-version"):
        await admission.validate_ingress(body=kopf.Body(ingress), memo=memo, warnings=warnings)
    assert time.monotonic() - started < ANSWERED_WITHIN
    assert warnings[0].startswith(
        "wsaudit could not read the controller ConfigMaps and Services (--controller-config, "
        f"--load-balancer-service) within its {WEBHOOK_READ_BUDGET:g} s admission budget"
    )


REFS = {"spec.auth.tokenSecretRef": SecretKeyRef(name="db-password", key="password")}
ALICE = Requester("alice", "42", ("team-a",), {"scopes.example.com": ("read",)})


async def test_a_stalled_subject_access_review_denies_within_the_budget(
    api_server: FakeApiServer,
) -> None:
    kube = runtime().kube
    started = time.monotonic()
    with pytest.raises(kopf.AdmissionError) as denied:
        await admission.check_secret_access(kube, ALICE, "prod", REFS)
    assert time.monotonic() - started < ANSWERED_WITHIN
    assert denied.value.code == 503
    assert str(denied.value) == (
        f"spec.auth.tokenSecretRef: wsaudit could not check within {WEBHOOK_READ_BUDGET:g} s "
        'that user "alice" may get Secret prod/db-password (the API server\'s '
        "SubjectAccessReview did not answer in time), so it denies the request; retry"
    )


async def test_the_review_asks_about_the_requester_and_the_secret(
    api_server: FakeApiServer,
) -> None:
    api_server.review = allowed_when("bob")
    with pytest.raises(kopf.AdmissionError) as denied:
        await admission.check_secret_access(runtime().kube, ALICE, "prod", REFS)
    assert denied.value.code == 403
    assert str(denied.value) == (
        'spec.auth.tokenSecretRef: user "alice" may not get Secret prod/db-password; '
        "wsaudit would send its value to spec.url"
    )
    assert api_server.reviews[0]["spec"] == {
        "user": "alice",
        "uid": "42",
        "groups": ["team-a"],
        "extra": {"scopes.example.com": ["read"]},
        "resourceAttributes": {
            "namespace": "prod",
            "verb": "get",
            "resource": "secrets",
            "name": "db-password",
        },
    }
    bob = Requester("bob")
    await admission.check_secret_access(runtime().kube, bob, "prod", REFS)  # allowed: no error


async def test_an_operator_without_rbac_for_reviews_denies_and_says_so(
    api_server: FakeApiServer,
) -> None:
    api_server.review = lambda _: web.json_response({"kind": "Status", "code": 403}, status=403)
    with pytest.raises(kopf.AdmissionError, match="needs create on subjectaccessreviews"):
        await admission.check_secret_access(runtime().kube, ALICE, "prod", REFS)

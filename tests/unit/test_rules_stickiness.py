"""Kong and Traefik: Socket.IO/SockJS/SignalR paths need sticky sessions, set on the Service."""

from __future__ import annotations

from typing import Any

import pytest

from support import manifests
from support.fixes import apply_changes, documents_of
from wsaudit.audit import AuditSettings, Related, audit_documents, audit_ingress


def ingress(class_name: str) -> dict[str, Any]:
    return manifests.ingress(class_name, paths=(("/socket.io", "chat"),))


def service(annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "chat", "namespace": "prod", "annotations": annotations},
        "spec": {"ports": [{"port": 80}]},
    }


@pytest.mark.parametrize(
    ("class_name", "rule", "sticky"),
    [
        (
            "traefik",
            "traefik.sticky-sessions",
            {"traefik.ingress.kubernetes.io/service.sticky.cookie": "true"},
        ),
        ("kong", "kong.sticky-sessions", {"konghq.com/upstream-policy": "chat-sticky"}),
    ],
)
def test_long_polling_paths_need_stickiness_on_the_service(
    class_name: str, rule: str, sticky: dict[str, str]
) -> None:
    obj = ingress(class_name)

    def rules(annotations: dict[str, str] | None) -> set[str]:
        related = (
            Related(services={("prod", "chat"): service(annotations)})
            if annotations is not None
            else None
        )
        return {f.rule for f in audit_ingress(obj, related).findings}

    assert rule in rules({})
    assert rule not in rules(sticky)
    assert rule not in rules(None)  # the Service is not visible: not judged


@pytest.mark.parametrize("class_name", ["traefik", "kong"])
def test_the_stickiness_fix_applies_and_is_clean(class_name: str) -> None:
    objects = [ingress(class_name), service({})]
    (audit,) = audit_documents(documents_of(objects, "test"), AuditSettings())
    sticky = [f for f in audit.findings if f.rule.endswith("sticky-sessions")]
    assert sticky
    apply_changes(objects, sticky, ("prod", "chat"))
    (after,) = audit_documents(documents_of(objects, "fixed"), AuditSettings())
    assert not [f for f in after.findings if f.rule.endswith("sticky-sessions")]
    if class_name == "kong":
        policy = next(o for o in objects if o["kind"] == "KongUpstreamPolicy")
        assert policy["spec"]["hashOn"] == {"cookie": "session", "cookiePath": "/"}

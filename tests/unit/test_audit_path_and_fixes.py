"""Generic audit behaviour: wrong prefixes, the path's idle and lifetime limits, structured
fixes in lint's JSON."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

from support import manifests
from wsaudit.audit import BY_ID, AuditSettings, Hop, Limit, Related, audit_ingress
from wsaudit.audit.common import wrong_prefix
from wsaudit.audit.controller import Context
from wsaudit.audit.engine import IngressAudit
from wsaudit.audit.model import ingress_view
from wsaudit.cli import main


def ingress(annotations: dict[str, str]) -> dict[str, Any]:
    return manifests.ingress("nginx", annotations)


def test_a_setting_under_a_prefix_the_controller_does_not_read_is_named_with_the_right_key() -> (
    None
):
    controller = dataclasses.replace(
        BY_ID["ingress-nginx"], annotation_names=frozenset({"affinity"})
    )

    def findings(annotations: dict[str, str]) -> list[Any]:
        view = ingress_view(ingress(annotations))
        return list(
            wrong_prefix(Context(view, Related(), AuditSettings(), "ingress-nginx"), controller)
        )

    wrong = findings({"ingress.kubernetes.io/affinity": "cookie"})
    assert len(wrong) == 1
    assert wrong[0].rule == "ingress-nginx.wrong-prefix"
    assert "nginx.ingress.kubernetes.io/affinity" in wrong[0].message
    removed, added = wrong[0].changes
    assert removed.path[-1] == "ingress.kubernetes.io/affinity" and removed.value is None
    assert added.path[-1] == "nginx.ingress.kubernetes.io/affinity" and added.value == "cookie"
    # The right key present: nothing to rename; an unknown name: not this rule's business.
    both = {"ingress.kubernetes.io/affinity": "x", "nginx.ingress.kubernetes.io/affinity": "y"}
    assert not findings(both)
    assert not findings({"ingress.kubernetes.io/no-such-setting": "1"})
    assert not findings({"example.com/affinity": "cookie"})  # not an ingress prefix at all


def test_the_tightest_hop_limits_the_path_for_idle_and_lifetime_separately() -> None:
    view = ingress_view(ingress({}))
    audit = IngressAudit(
        ingress=view,
        controller="x",
        detected_by="test",
        findings=(),
        limits=(
            Limit("idle", 350, Hop.LOAD_BALANCER, "NLB (fixed)"),
            Limit("idle", 60, Hop.CONTROLLER, "proxy-read-timeout (default)"),
            Limit("lifetime", None, Hop.CONTROLLER, "none"),
            Limit("lifetime", 30, Hop.LOAD_BALANCER, "BackendConfig timeoutSec (default)"),
        ),
    )
    idle, lifetime = audit.tightest("idle"), audit.tightest("lifetime")
    assert idle is not None and (idle.seconds, idle.hop) == (60, Hop.CONTROLLER)
    assert lifetime is not None and (lifetime.seconds, lifetime.hop) == (30, Hop.LOAD_BALANCER)
    summary = audit.path_summary()
    assert summary["idle"] == {
        "kind": "idle",
        "seconds": 60,
        "hop": "controller",
        "setting": "proxy-read-timeout (default)",
    }
    assert len(summary["hops"]) == 4  # type: ignore[arg-type]


def test_lint_json_carries_each_ingress_path_and_each_fix_as_changes(tmp_path: Any) -> None:
    manifest = tmp_path / "ingress.json"
    plain = ingress({})
    del plain["spec"]["tls"]
    manifest.write_text(json.dumps(plain))
    out = io.StringIO()
    main(["lint", "-f", str(manifest), "--output", "json"], out)
    report = json.loads(out.getvalue())
    assert set(report["ingresses"][0]["path"]) == {"idle", "lifetime", "hops"}
    missing = next(f for f in report["findings"] if f["rule"] == "ingress.tls-missing")
    assert missing["changes"] == [
        {
            "kind": "Ingress",
            "name": "",
            "path": ["spec", "tls"],
            "value": [{"hosts": ["chat.example.com"], "secretName": "chat-tls"}],
        }
    ]


def test_the_load_balancer_in_front_is_a_hop_of_every_in_cluster_controller() -> None:
    from pathlib import Path

    from wsaudit.audit import audit_documents, parse_stream

    path = Path(__file__).resolve().parents[1] / "fixtures" / "ingress" / "load-balancer.yaml"
    (audit,) = audit_documents(parse_stream(path.read_text(), str(path)), AuditSettings())
    finding = next(f for f in audit.findings if f.rule.endswith("load-balancer-idle-timeout"))
    assert finding.rule == "ingress-nginx.load-balancer-idle-timeout"
    assert "AWS Classic ELB of Service ingress-nginx/ingress-nginx-controller" in finding.message
    (change,) = finding.changes
    assert (change.kind, change.namespace, change.name) == (
        "Service",
        "ingress-nginx",
        "ingress-nginx-controller",
    )
    idle = audit.tightest("idle")
    assert idle is not None and (idle.seconds, idle.hop) == (60, Hop.LOAD_BALANCER)


def test_a_value_only_the_user_has_is_a_declared_placeholder_not_a_made_up_one() -> None:
    hostless = manifests.ingress(
        "alb",
        {"alb.ingress.kubernetes.io/listen-ports": '[{"HTTPS": 443}]'},
        host="",
        tls=False,
    )
    hostless["spec"]["rules"][0].pop("host")
    found = audit_ingress(hostless).findings
    missing = next(f for f in found if f.rule == "aws-alb.certificate-missing")
    (change,) = missing.changes
    assert change.input == "the ARN of an ACM certificate covering the hosts this ALB serves"
    assert change.to_dict()["input"] == change.input

"""HAProxy Ingress, HAProxy Technologies, Contour and Traefik rules: each fires on the
misconfiguration it names and is quiet on its fix; limits and TLS as the controllers' code."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from support import manifests
from support.fixes import apply_changes
from wsaudit.audit import IngressAudit, Related, Severity, audit_ingress
from wsaudit.audit.controllers import haproxy_ingress

HI = "haproxy-ingress.github.io/"
CONTOUR_ROUTES = "projectcontour.io/websocket-routes"


def ingress(
    class_name: str, annotations: dict[str, str] | None = None, *, tls: bool = True
) -> dict[str, Any]:
    return manifests.ingress(
        class_name,
        annotations,
        name="feed",
        host="feed.example.com",
        paths=(("/ws", "feed"),),
        tls=tls,
    )


def config_map(name: str, data: dict[str, str], namespace: str = "prod") -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def related(*config_maps: dict[str, Any]) -> Related:
    return Related(
        config_maps={(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in config_maps}
    )


def rules(audit: IngressAudit) -> set[str]:
    return {f.rule for f in audit.findings}


def fixed(obj: dict[str, Any], audit: IngressAudit, *others: dict[str, Any]) -> IngressAudit:
    """Applies every change of `audit` and audits again with the changed objects."""
    objects = [copy.deepcopy(obj), *copy.deepcopy(list(others))]
    apply_changes(objects, audit.findings, ("prod", "feed"))
    maps = [o for o in objects if o.get("kind") == "ConfigMap"]
    return audit_ingress(objects[0], related(*maps))


# HAProxy Ingress


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1h", 3600), ("3600s", 3600), ("500ms", 0.5), ("10us", 0.00001), ("2d", 172800)],
)
def test_haproxy_ingress_reads_a_number_with_a_unit(value: str, seconds: float) -> None:
    assert haproxy_ingress.parse_time(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["3600", "1h30m", "1 h", "1.5h", "", "1H", "3600\n"])
def test_haproxy_ingress_ignores_anything_else(value: str) -> None:
    assert haproxy_ingress.parse_time(value) is None


def test_haproxy_ingress_bare_number_is_ignored_and_the_default_applies() -> None:
    obj = ingress("haproxy", {f"{HI}timeout-tunnel": "3600"})
    audit = audit_ingress(obj)
    invalid = next(f for f in audit.findings if f.rule == "haproxy-ingress.timeout-tunnel-invalid")
    assert invalid.severity is Severity.WARNING
    assert "ignores" in invalid.message and "milliseconds" in invalid.message
    assert audit.tightest("idle") is not None and audit.tightest("idle").seconds == 3600  # type: ignore[union-attr]
    assert rules(fixed(obj, audit)) == set()


def test_haproxy_ingress_short_tunnel_fires_and_the_fix_is_quiet() -> None:
    obj = ingress("haproxy", {f"{HI}timeout-tunnel": "30m"})
    audit = audit_ingress(obj)
    assert rules(audit) == {"haproxy-ingress.timeout-tunnel"}
    assert audit.tightest("idle").seconds == 1800  # type: ignore[union-attr]
    assert rules(fixed(obj, audit)) == set()
    assert rules(audit_ingress(ingress("haproxy", {f"{HI}timeout-tunnel": "2h"}))) == set()


def test_haproxy_ingress_reads_the_ingress_kubernetes_io_prefix() -> None:
    short = audit_ingress(ingress("haproxy", {"ingress.kubernetes.io/timeout-tunnel": "10m"}))
    assert rules(short) == {"haproxy-ingress.timeout-tunnel"}
    assert short.findings[0].changes[0].path[-1] == "ingress.kubernetes.io/timeout-tunnel"
    # The primary prefix wins when both are set (options.go:27, in that order).
    both = {f"{HI}timeout-tunnel": "2h", "ingress.kubernetes.io/timeout-tunnel": "10m"}
    assert rules(audit_ingress(ingress("haproxy", both))) == set()


def test_haproxy_ingress_ssl_redirect_false_under_either_prefix() -> None:
    for key in (f"{HI}ssl-redirect", "ingress.kubernetes.io/ssl-redirect"):
        obj = ingress("haproxy", {key: "false"})
        audit = audit_ingress(obj)
        assert rules(audit) == {"haproxy-ingress.https-redirect"}
        assert rules(fixed(obj, audit)) == set()


def test_haproxy_ingress_wrong_prefix_names_the_right_key() -> None:
    obj = ingress("haproxy", {"nginx.ingress.kubernetes.io/timeout-tunnel": "2h"})
    audit = audit_ingress(obj)
    assert "haproxy-ingress.wrong-prefix" in rules(audit)
    assert rules(fixed(obj, audit)) == set()


# HAProxy Technologies

HT_CM = "haproxy-kubernetes-ingress"


def test_haproxy_tech_tunnel_timeout_on_the_ingress_moves_to_the_config_map() -> None:
    for prefix in ("haproxy.org/", "haproxy.com/", "ingress.kubernetes.io/"):
        obj = ingress(
            "haproxy", {"haproxy.org/ssl-redirect": "true", f"{prefix}timeout-tunnel": "2h"}
        )
        audit = audit_ingress(obj)
        assert audit.controller == "haproxy-tech"
        finding = next(
            f for f in audit.findings if f.rule == "haproxy-tech.timeout-tunnel-on-ingress"
        )
        assert {c.kind for c in finding.changes} == {"Ingress", "ConfigMap"}
        after = fixed(obj, audit)
        assert not {r for r in rules(after) if r.startswith("haproxy-tech.timeout-tunnel-on")}
        assert after.tightest("idle").seconds == 7200  # type: ignore[union-attr]


def test_haproxy_tech_reads_its_config_map() -> None:
    obj = ingress("haproxy", {"haproxy.org/ssl-redirect": "true"})
    unseen = audit_ingress(obj)
    assert {f.rule: f.severity for f in unseen.findings} == {
        "haproxy-tech.timeout-tunnel": Severity.INFO
    }
    short = config_map(HT_CM, {"timeout-tunnel": "60000"})  # a bare number is ms: 60 s
    audit = audit_ingress(obj, related(short))
    warning = next(f for f in audit.findings if f.rule == "haproxy-tech.timeout-tunnel")
    assert warning.severity is Severity.WARNING
    assert audit.tightest("idle").seconds == 60  # type: ignore[union-attr]
    assert rules(fixed(obj, audit, short)) == set()
    good = config_map(HT_CM, {"timeout-tunnel": "1h"})
    assert rules(audit_ingress(obj, related(good))) == set()


def test_haproxy_tech_rejected_config_map_value_keeps_the_default() -> None:
    obj = ingress("haproxy", {"haproxy.org/ssl-redirect": "true"})
    bad = config_map(HT_CM, {"timeout-tunnel": "1h30m"})
    audit = audit_ingress(obj, related(bad))
    assert rules(audit) == {"haproxy-tech.timeout-tunnel-invalid"}
    assert audit.tightest("idle").seconds == 3600  # type: ignore[union-attr]
    assert rules(fixed(obj, audit, bad)) == set()


# Contour


def test_contour_heptio_websocket_routes_does_nothing_and_the_fix_renames_it() -> None:
    obj = ingress("contour", {"contour.heptio.com/websocket-routes": "/ws"})
    audit = audit_ingress(obj)
    finding = next(f for f in audit.findings if f.rule == "contour.heptio-annotation")
    assert finding.severity is Severity.ERROR and "#3155" in finding.message
    assert "contour.websocket-routes" not in rules(audit)  # one finding, one fix
    after = fixed(obj, audit)
    assert not {r for r in rules(after) if r != "contour.stream-idle-timeout"}


def test_contour_other_heptio_annotations_are_renamed() -> None:
    obj = ingress("contour", {CONTOUR_ROUTES: "/ws", "contour.heptio.com/num-retries": "3"})
    audit = audit_ingress(obj)
    finding = next(f for f in audit.findings if f.rule == "contour.heptio-annotation")
    assert finding.severity is Severity.WARNING
    assert finding.changes[-1].path[-1] == "projectcontour.io/num-retries"


def test_contour_stream_idle_timeout_default_is_five_minutes() -> None:
    obj = ingress("contour", {CONTOUR_ROUTES: "/ws"})
    audit = audit_ingress(obj)
    assert rules(audit) == {"contour.stream-idle-timeout"}
    assert audit.tightest("idle").seconds == 300  # type: ignore[union-attr]
    after = fixed(obj, audit)
    assert rules(after) == set()
    assert after.tightest("idle").seconds == 3600  # type: ignore[union-attr]


def test_contour_config_map_timeouts() -> None:
    obj = ingress("contour", {CONTOUR_ROUTES: "/ws"})

    def contour(text: str) -> dict[str, Any]:
        return config_map("contour", {"contour.yaml": text}, "projectcontour")

    good = audit_ingress(obj, related(contour("timeouts:\n  stream-idle-timeout: 1h30m\n")))
    assert rules(good) == set() and good.tightest("idle").seconds == 5400  # type: ignore[union-attr]
    forever = audit_ingress(
        obj,
        related(
            contour("timeouts:\n  stream-idle-timeout: infinity\n  max-connection-duration: 2h\n")
        ),
    )
    assert rules(forever) == set() and forever.tightest("idle") is None
    assert forever.tightest("lifetime").seconds == 7200  # type: ignore[union-attr]
    kept = contour("incluster: true\ntimeouts:\n  stream-idle-timeout: 90s\n")
    short = audit_ingress(obj, related(kept))
    assert rules(short) == {"contour.stream-idle-timeout"}
    written = short.findings[0].changes[0].value
    assert "incluster: true" in written and "stream-idle-timeout: 3600s" in written
    invalid = audit_ingress(obj, related(contour("timeouts:\n  stream-idle-timeout: 1 hour\n")))
    assert rules(invalid) == {"contour.stream-idle-timeout-invalid"}


def test_contour_websocket_routes_fix_is_applied() -> None:
    obj = ingress("contour")
    audit = audit_ingress(obj)
    assert {"contour.websocket-routes", "contour.stream-idle-timeout"} == rules(audit)
    assert rules(fixed(obj, audit)) == set()


# Traefik


def test_traefik_info_does_not_claim_responding_timeouts_close_websockets() -> None:
    audit = audit_ingress(ingress("traefik"))
    info = next(f for f in audit.findings if f.rule == "traefik.entrypoint-timeouts")
    assert info.severity is Severity.INFO
    assert "clears" in info.message and "hijack" in info.message
    assert audit.tightest("idle") is None and audit.tightest("lifetime") is None
    assert [limit.seconds for limit in audit.limits] == [None, None]


@pytest.mark.parametrize(
    "annotations",
    [
        {"traefik.ingress.kubernetes.io/router.tls": "true"},
        {"traefik.ingress.kubernetes.io/router.tls.certresolver": "letsencrypt"},
    ],
)
def test_traefik_router_tls_is_tls(annotations: dict[str, str]) -> None:
    assert "ingress.tls-missing" not in rules(
        audit_ingress(ingress("traefik", annotations, tls=False))
    )


def test_traefik_without_tls_is_still_no_tls() -> None:
    plain = {"traefik.ingress.kubernetes.io/router.tls": "false"}
    assert "ingress.tls-missing" in rules(audit_ingress(ingress("traefik", plain, tls=False)))

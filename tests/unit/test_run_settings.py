"""`wsaudit run` refuses bad flags and environment before starting anything."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from wsaudit.cli import build_parser, main
from wsaudit.settings import settings_from


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--metrics-port", "0"], {}, "--metrics-port / WSAUDIT_METRICS_PORT: '0' is not a port"),
        ([], {"WSAUDIT_HEALTH_PORT": "http"}, "WSAUDIT_HEALTH_PORT: 'http' is not a port"),
        (["--webhook", "block"], {}, "'block' is not off, warn or deny"),
        (["--webhook", "warn"], {}, "the webhook needs a serving certificate"),
        (["--deny-cidr", "10.0.0.0/33"], {}, "--deny-cidr / WSAUDIT_DENY_CIDRS"),
        ([], {"WSAUDIT_ALLOW_PRIVATE": "maybe"}, "WSAUDIT_ALLOW_PRIVATE='maybe': expected true"),
        (["--namespace", "Prod"], {}, "'Prod' is not a namespace name"),
        (["--namespace", "a", "--all-namespaces"], {}, "exclude each other"),
        (["--max-concurrent-probes", "0"], {}, "'0' is not 1-1000"),
        (
            ["--max-concurrent-probes", "8", "--max-concurrent-probes-per-namespace", "9"],
            {},
            "'9' is not 1-8 (at most --max-concurrent-probes)",
        ),
        (["--log-format", "xml"], {}, "'xml' is not text or json"),
        (["--metrics-port", "8080"], {}, "ports must differ"),
        (["--controller-config", "ingress-nginx"], {}, "'ingress-nginx' is not NAMESPACE/NAME"),
        ([], {"WSAUDIT_LOAD_BALANCER_SERVICES": "a/B"}, "WSAUDIT_LOAD_BALANCER_SERVICES"),
        (
            ["--allow-cluster-addresses", "node"],
            {},
            "--allow-cluster-addresses / WSAUDIT_ALLOW_CLUSTER_ADDRESSES: 'node' is not "
            "api-server, nodes, services, all or none",
        ),
        ([], {"WSAUDIT_ALLOW_CLUSTER_ADDRESSES": "yes"}, "'yes' is not api-server, nodes"),
        (
            ["--bind-address", "localhost"],
            {},
            "--bind-address / WSAUDIT_BIND_ADDRESS: 'localhost' is not an IP address",
        ),
    ],
)
def test_invalid_settings_exit_2_naming_flag_and_twin(
    args: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["run", *args], io.StringIO()) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_environment_twins_fill_what_flags_leave_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("x")
    key.write_text("x")
    monkeypatch.setenv("WSAUDIT_NAMESPACES", "prod, staging")
    monkeypatch.setenv("WSAUDIT_WEBHOOK", "deny")
    monkeypatch.setenv("WSAUDIT_WEBHOOK_CERT", str(cert))
    monkeypatch.setenv("WSAUDIT_WEBHOOK_KEY", str(key))
    monkeypatch.setenv("WSAUDIT_DENY_CIDRS", "10.1.0.0/16,fd00::/8")
    args = build_parser().parse_args(["run", "--metrics-port", "9100"])
    settings = settings_from(args)
    assert settings.namespaces == ("prod", "staging") and not settings.clusterwide
    assert settings.webhook == "deny" and settings.metrics_port == 9100
    assert [str(n) for n in settings.deny_cidrs] == ["10.1.0.0/16", "fd00::/8"]


def test_defaults_match_the_design() -> None:
    settings = settings_from(build_parser().parse_args(["run"]))
    assert settings.clusterwide and not settings.allow_private
    assert settings.allow_cluster_addresses == frozenset()  # the cluster's addresses refused
    assert (settings.metrics_port, settings.webhook) == (9090, "off")


def test_cluster_level_objects_come_from_flags_or_their_twins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WSAUDIT_LOAD_BALANCER_SERVICES", "ingress-nginx/controller, kong/proxy")
    args = build_parser().parse_args(["run", "--controller-config", "ingress-nginx/config"])
    settings = settings_from(args)
    assert settings.controller_configs == (("ingress-nginx", "config"),)
    assert settings.load_balancer_services == (("ingress-nginx", "controller"), ("kong", "proxy"))


@pytest.mark.parametrize(
    ("args", "env", "lifted"),
    [
        (["--allow-cluster-addresses", "nodes"], "", {"nodes"}),
        (
            ["--allow-cluster-addresses", "nodes", "--allow-cluster-addresses", "services"],
            "",
            {"nodes", "services"},
        ),
        ([], "api-server, Nodes", {"api-server", "nodes"}),
        ([], "all", {"api-server", "nodes", "services"}),
        # The chart's boolean value: true lifts every kind, false none.
        ([], "true", {"api-server", "nodes", "services"}),
        ([], "false", set()),
        (["--allow-private"], "", set()),  # --allow-private does not lift them
    ],
)
def test_cluster_address_kinds_are_lifted_one_by_one(
    args: list[str], env: str, lifted: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WSAUDIT_ALLOW_CLUSTER_ADDRESSES", env)
    settings = settings_from(build_parser().parse_args(["run", *args]))
    assert settings.allow_cluster_addresses == lifted

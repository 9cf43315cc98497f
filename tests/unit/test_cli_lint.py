"""`wsaudit lint` on the sample manifests: every controller, mixed documents, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from wsaudit.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INGRESS = FIXTURES / "ingress"


def lint(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["lint", *args], out)
    return code, out.getvalue()


def findings(*args: str) -> tuple[int, dict[str, list[str]]]:
    code, text = lint(*args, "--output", "json")
    report = json.loads(text)
    by_object: dict[str, list[str]] = {i["object"]: [] for i in report["ingresses"]}
    for finding in report["findings"]:
        assert set(finding) == {"rule", "severity", "object", "message", "fix", "changes"}
        by_object[finding["object"]].append(finding["rule"])
    return code, by_object


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "ingress-nginx.yaml",
            {
                "prod/chat": {
                    "ingress-nginx.proxy-http-version",
                    "ingress-nginx.proxy-read-timeout-invalid",
                    "ingress-nginx.retired",
                }
            },
        ),
        ("nginx-inc.yaml", {"prod/cafe": {"nginx-inc.websocket-services"}}),
        (
            "aws-alb.yaml",
            {
                "prod/live": {
                    "aws-alb.idle-timeout",
                    "aws-alb.unknown-annotation",
                    "aws-alb.https-redirect",
                }
            },
        ),
        ("gke.yaml", {"prod/game": {"gke.backend-timeout"}}),
        (
            "haproxy.yaml",
            {
                "prod/feed": {"haproxy-ingress.timeout-tunnel-invalid"},
                "prod/quotes": {"haproxy-tech.timeout-tunnel-on-ingress"},
            },
        ),
        (
            "contour.yaml",
            {
                "prod/notify": {"contour.websocket-routes", "contour.stream-idle-timeout"},
                "prod/board": {"contour.heptio-annotation", "contour.stream-idle-timeout"},
            },
        ),
        (
            "kong.yaml",
            {"prod/stream": {"kong.timeout-on-ingress", "kong.read-timeout"}},
        ),
        (
            "azure.yaml",
            {
                "prod/board": {
                    "azure-agic.request-timeout",
                    "azure-agic.https-redirect",
                    "ingress.tls-missing",
                }
            },
        ),
        (
            "traefik.yaml",
            {
                "prod/ticker": {"traefik.entrypoint-timeouts", "ingress.foreign-annotation"},
                "prod/prices": {"traefik.entrypoint-timeouts"},
            },
        ),
    ],
)
def test_each_controller_sample_gets_its_findings(
    fixture: str, expected: dict[str, set[str]]
) -> None:
    code, found = findings("-f", str(INGRESS / fixture))
    assert {obj: set(rules) for obj, rules in found.items()} == expected
    assert code == 1


def test_clean_manifest_with_other_kinds_exits_0() -> None:
    code, text = lint("-f", str(INGRESS / "good.yaml"))
    assert code == 0
    assert "prod/chat-ready  (haproxy-ingress" in text
    assert "no findings" in text


def test_directory_is_read_recursively_and_fail_on_error_ignores_warnings() -> None:
    code, found = findings("-f", str(INGRESS), "--fail-on", "error")
    expected = sum(path.read_text().count("\nkind: Ingress\n") for path in INGRESS.rglob("*.yaml"))
    assert len(found) == expected >= 20  # issues/ included
    assert code == 1  # errors exist (tls-missing, websocket-services, ...)
    code, _ = findings("-f", str(INGRESS / "gke.yaml"), "--fail-on", "error")
    assert code == 0  # only a warning there


def test_min_timeout_is_configurable() -> None:
    code, found = findings("-f", str(INGRESS / "gke.yaml"), "--min-timeout", "20")
    assert found == {"prod/game": []}
    assert code == 0


def test_text_output_names_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    _, text = lint("-f", str(INGRESS / "contour.yaml"))
    assert 'fix: set projectcontour.io/websocket-routes: "/socket" on the Ingress' in text
    assert text.strip().endswith("2 Ingress(es): 2 error, 2 warning")


def test_stdin_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO((INGRESS / "contour.yaml").read_text()))
    code, found = findings("-f", "-")
    assert code == 1
    assert set(found) == {"prod/notify", "prod/board"}
    assert "contour.websocket-routes" in found["prod/notify"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("broken-yaml.yaml", "broken-yaml.yaml, document 2 line 7: invalid YAML"),
        ("not-an-object.yaml", "not-an-object.yaml, document 1: expected a Kubernetes object"),
        ("malformed-ingress.yaml", "Ingress odd: spec.rules must be a list"),
        ("does-not-exist.yaml", "cannot read"),
    ],
)
def test_bad_input_exits_2_naming_file_and_document(
    path: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = lint("-f", str(FIXTURES / "invalid" / path))
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_no_input_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert lint()[0] == 2
    assert "give -f FILE" in capsys.readouterr().err

"""The README's and docs' examples stay true: YAML applies to a real API server, Ingress
examples lint, and every documented `wsaudit` command line parses."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from support.cluster import Cluster
from wsaudit.audit import AuditSettings, audit_documents, parse_stream
from wsaudit.cli import build_parser

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def blocks(language: str) -> list[tuple[str, str]]:
    return [
        (path.name, body)
        for path in DOCUMENTS
        for lang, body in FENCE.findall(path.read_text())
        if lang == language
    ]


def kubernetes_examples() -> list[tuple[str, dict[str, object]]]:
    found = []
    for name, body in blocks("yaml"):
        for document in yaml.safe_load_all(body):
            if isinstance(document, dict) and "apiVersion" in document and "kind" in document:
                found.append((name, document))
    return found


def test_yaml_examples_are_accepted_by_the_api_server(
    cluster: Cluster, namespace: str, crds: None
) -> None:
    examples = kubernetes_examples()
    assert len(examples) >= 4
    for name, document in examples:
        metadata = dict(document.get("metadata") or {})  # type: ignore[call-overload]
        metadata["namespace"] = namespace
        done = cluster.kubectl(
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            stdin=json.dumps({**document, "metadata": metadata}),
            check=False,
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"


def test_documented_manifests_lint() -> None:
    documents = []
    for name, body in blocks("yaml"):
        documents.extend(parse_stream(body, name))
    # The documented manifests on their own: the fixtures hold cluster-level objects (a
    # LoadBalancer Service in front of ingress-nginx) that would apply to them too.
    audits = audit_documents(documents, AuditSettings())
    fixtures = ROOT / "tests" / "fixtures" / "ingress"
    samples = [
        audit
        for path in sorted(fixtures.glob("*.yaml"))
        for audit in audit_documents(parse_stream(path.read_text(), path.name), AuditSettings())
    ]
    ready = next(
        a
        for a in audits
        if a.ingress.name == "chat"
        and a.controller == "ingress-nginx"
        and "wsaudit.io/websocket-paths" in a.ingress.annotations
    )
    assert [f.rule for f in ready.findings] == ["ingress-nginx.retired"]
    assert len(samples) > 10  # the sample manifests the README points to lint too


def test_documented_command_lines_parse() -> None:
    parser = build_parser()
    commands = [
        line.split("#", 1)[0].strip()
        for _name, body in blocks("sh")
        for line in body.replace("\\\n", " ").splitlines()
        if line.strip().startswith("wsaudit ")
    ]
    assert len(commands) >= 5
    for command in commands:
        argv = [arg for arg in shlex.split(command)[1:] if arg != "|"]
        argv = argv[: argv.index("|")] if "|" in argv else argv
        parser.parse_args(argv)

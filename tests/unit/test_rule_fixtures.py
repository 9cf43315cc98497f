"""Every documented rule fires in at least one fixture under tests/fixtures/ingress/.

Rule ids are the first cell of the rule tables in docs/rules.md and docs/rules/*.md; an id
with placeholders (`<controller>.wrong-prefix`) must fire for at least one controller. Each
fixture file is linted on its own, as `wsaudit lint` would lint it. New fixtures for rules no
other fixture shows live in tests/fixtures/ingress/docs/<controller>.yaml, taken from the
controller's own documentation examples."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from wsaudit.audit import AuditSettings, audit_documents, parse_stream

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ingress"
PAGES = [ROOT / "docs" / "rules.md", *sorted((ROOT / "docs" / "rules").glob("*.md"))]
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|", re.MULTILINE)
_PLACEHOLDER = re.compile(r"<[^>]+>")

# Rules that cannot fire from manifests alone, with the reason. None today: every rule reads
# only the Ingress and the objects beside it (Services, BackendConfigs, ConfigMaps, ...).
CANNOT_FIRE: dict[str, str] = {}


def documented_rules() -> list[str]:
    return sorted({rule for page in PAGES for rule in _ROW.findall(page.read_text())})


@cache
def fired() -> dict[str, frozenset[str]]:
    """Each rule fired by the fixtures, with the files that fire it."""
    found: dict[str, set[str]] = {}
    for path in sorted(FIXTURES.rglob("*.yaml")):
        documents = parse_stream(path.read_text(), str(path))
        for audit in audit_documents(documents, AuditSettings()):
            for finding in audit.findings:
                found.setdefault(finding.rule, set()).add(str(path.relative_to(FIXTURES)))
    return {rule: frozenset(files) for rule, files in found.items()}


def _matches(pattern: str, rule: str) -> bool:
    parts = _PLACEHOLDER.split(pattern)
    regex = "[a-z0-9-]+".join(re.escape(part) for part in parts)
    return re.fullmatch(regex, rule) is not None


def test_the_rule_tables_are_read() -> None:
    rules = documented_rules()
    assert len(rules) >= 50
    assert "ingress-nginx.proxy-read-timeout" in rules
    assert "<controller>.wrong-prefix" in rules


@pytest.mark.parametrize("rule", documented_rules())
def test_every_documented_rule_fires_in_a_fixture(rule: str) -> None:
    if rule in CANNOT_FIRE:
        pytest.skip(CANNOT_FIRE[rule])
    matching = [r for r in fired() if _matches(rule, r)] if "<" in rule else [rule]
    files = sorted(f for r in matching for f in fired().get(r, ()))
    assert files, (
        f"no fixture under tests/fixtures/ingress/ fires {rule}: add one to "
        "tests/fixtures/ingress/docs/<controller>.yaml from the controller's documentation"
    )


def test_the_exceptions_are_documented_rules() -> None:
    assert set(CANNOT_FIRE) <= set(documented_rules())

"""docs/rules.md lists every rule the samples and rule tests produce."""

from __future__ import annotations

from pathlib import Path

from wsaudit.audit import AuditSettings, audit_documents, parse_stream

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_fired_by_the_samples_is_documented() -> None:
    documents = []
    for path in sorted((ROOT / "tests" / "fixtures" / "ingress").rglob("*.yaml")):
        documents.extend(parse_stream(path.read_text(), str(path)))
    fired = {f.rule for a in audit_documents(documents, AuditSettings()) for f in a.findings}
    pages = [ROOT / "docs" / "rules.md", *sorted((ROOT / "docs" / "rules").glob("*.md"))]
    text = "\n".join(page.read_text() for page in pages)
    documented_generic = ("-invalid", ".unknown-annotation")
    missing = [
        rule for rule in fired if f"`{rule}`" not in text and not rule.endswith(documented_generic)
    ]
    assert len(fired) >= 20
    assert not missing, f"document these rules in docs/rules.md or docs/rules/: {missing}"


def test_every_public_issue_fixture_produces_the_cause_its_maintainers_gave() -> None:
    """tests/fixtures/ingress/issues/*.yaml: a manifest from a public issue where WebSockets
    broke, with `# source: <issue URL>` and `# expect: <rule id>[, <rule id>]` on top."""
    issues = sorted((ROOT / "tests" / "fixtures" / "ingress" / "issues").glob("*.yaml"))
    for path in issues:
        text = path.read_text()
        header = dict(
            line[2:].split(": ", 1)
            for line in text.splitlines()
            if line.startswith("# ") and ": " in line
        )
        assert header.get("source", "").startswith("https://"), f"{path.name}: no # source:"
        expected = {rule.strip() for rule in header.get("expect", "").split(",") if rule.strip()}
        assert expected, f"{path.name}: no # expect:"
        fired = {
            f.rule
            for a in audit_documents(parse_stream(text, str(path)), AuditSettings())
            for f in a.findings
        }
        assert expected <= fired, f"{path.name}: expected {expected}, got {sorted(fired)}"

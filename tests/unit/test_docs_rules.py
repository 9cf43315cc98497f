"""docs/rules.md lists every rule the samples and rule tests produce."""

from __future__ import annotations

from pathlib import Path

from wsaudit.audit import AuditSettings, audit_documents, parse_stream

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_fired_by_the_samples_is_documented() -> None:
    documents = []
    for path in sorted((ROOT / "tests" / "fixtures" / "ingress").glob("*.yaml")):
        documents.extend(parse_stream(path.read_text(), str(path)))
    fired = {f.rule for a in audit_documents(documents, AuditSettings()) for f in a.findings}
    text = (ROOT / "docs" / "rules.md").read_text()
    documented_generic = ("-invalid", ".unknown-annotation")
    missing = [
        rule for rule in fired if f"`{rule}`" not in text and not rule.endswith(documented_generic)
    ]
    assert len(fired) >= 20
    assert not missing, f"document these rules in docs/rules.md: {missing}"

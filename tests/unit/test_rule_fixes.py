"""Every fix wsaudit proposes can be applied, and the result is clean: no finding it fixes
comes back, and no new one appears (a fix its controller rejects is a finding too)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from support.fixes import apply_changes, documents_of
from wsaudit.audit import AuditSettings, Severity, audit_documents, parse_stream

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted((ROOT / "tests" / "fixtures" / "ingress").rglob("*.yaml"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_fix_applies_and_leaves_the_ingress_clean(path: Path) -> None:
    documents = parse_stream(path.read_text(), str(path))
    objects = [copy.deepcopy(doc.obj) for doc in documents]
    audits = audit_documents(documents, AuditSettings())
    unfixable = [
        f"{f.rule}: {f.fix}"
        for a in audits
        for f in a.findings
        if f.severity >= Severity.WARNING and not f.changes
    ]
    assert not unfixable, f"findings whose fix is not machine-applicable: {unfixable}"
    for audit in audits:
        ingress = (audit.ingress.namespace, audit.ingress.name)
        apply_changes(objects, audit.findings, ingress)
    after = audit_documents(documents_of(objects, f"{path} (fixed)"), AuditSettings())
    left = [
        f"{f.object} {f.rule}: {f.message}"
        for a in after
        for f in a.findings
        if f.severity >= Severity.WARNING
    ]
    assert not left, f"after applying every fix: {left}"

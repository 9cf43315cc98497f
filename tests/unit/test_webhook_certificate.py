"""The hook Jobs' certificate decisions: what the API server will trust, and when a Secret
must be replaced (everything else keeps it, so GitOps syncs change nothing)."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.x509 import verification

from wsaudit.controller.webhook_certificate import (
    ServingCertificate,
    issue,
    renewal_reason,
    service_names,
)

NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
NAMES = service_names("wsaudit-webhook", "wsaudit")


def verified_names(bundle: ServingCertificate, name: str, at: datetime.datetime) -> None:
    """Verifies the certificate for `name` as a TLS client trusting only the CA would."""
    store = verification.Store([x509.load_pem_x509_certificate(bundle.ca)])
    verifier = (
        verification.PolicyBuilder().store(store).time(at).build_server_verifier(x509.DNSName(name))
    )
    verifier.verify(x509.load_pem_x509_certificate(bundle.certificate), [])


def test_the_api_server_trusts_the_certificate_for_the_service_names() -> None:
    bundle = issue(NAMES, NOW)
    assert NAMES == ("wsaudit-webhook.wsaudit.svc", "wsaudit-webhook.wsaudit")
    for name in NAMES:
        verified_names(bundle, name, NOW + datetime.timedelta(days=3000))
    with pytest.raises(verification.VerificationError):
        verified_names(bundle, "other.wsaudit.svc", NOW)
    with pytest.raises(verification.VerificationError):
        verified_names(issue(NAMES, NOW), NAMES[0], NOW + datetime.timedelta(days=3651))


def test_a_secret_that_still_serves_is_kept() -> None:
    data = issue(NAMES, NOW).secret_data()
    assert renewal_reason(data, NAMES, NOW) is None
    assert renewal_reason(data, NAMES, NOW + datetime.timedelta(days=3000)) is None


def test_each_reason_to_replace_the_secret_is_named() -> None:
    data = issue(NAMES, NOW).secret_data()
    other = issue(NAMES, NOW).secret_data()
    cases = {
        "it does not exist": None,
        "it has no tls.key, ca.crt": {"tls.crt": data["tls.crt"]},
        "its certificate, key or CA cannot be read": {**data, "tls.crt": "bm90IGEgY2VydA=="},
        "tls.key is not the key of tls.crt": {**data, "tls.key": other["tls.key"]},
        "tls.crt is not signed by ca.crt": {**data, "ca.crt": other["ca.crt"]},
    }
    for reason, broken in cases.items():
        assert renewal_reason(broken, NAMES, NOW) == reason
    renamed = service_names("gitops-wsaudit-webhook", "wsaudit")
    assert renewal_reason(data, renamed, NOW) == (
        "tls.crt is not for gitops-wsaudit-webhook.wsaudit.svc, gitops-wsaudit-webhook.wsaudit"
    )
    late = NOW + datetime.timedelta(days=3400)
    assert renewal_reason(data, NAMES, late) == "it expires on 2036-02-27"
    garbage = {**data, "ca.crt": base64.b64encode(b"\x00" * 8).decode()}
    assert renewal_reason(garbage, NAMES, NOW) == "its certificate, key or CA cannot be read"

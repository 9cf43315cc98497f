"""The webhook's serving certificate where the chart is rendered with `helm template` (Argo CD,
Flux post-renderers): created once in a Secret, kept across renders and syncs, and its CA set as
the caBundle of the chart's ValidatingWebhookConfiguration.

The chart's hook Jobs run this (`webhook.certificate.source: job`) before and after every install
and upgrade, which Argo CD runs as PreSync and PostSync hooks: ingress-nginx's kube-webhook-certgen
pattern (charts/ingress-nginx/templates/admission-webhooks/job-patch/), with RBAC narrowed to the
one Secret and the one ValidatingWebhookConfiguration and deleted once the hooks succeed, so the
long-running operator, which handles tenants' input, cannot rewrite its own webhook.

    python -m wsaudit.controller.webhook_certificate --namespace NS --secret NAME \\
        --service NAME --webhook-configuration NAME

A run writes only what must change: a Secret that still serves is kept as it is, and a caBundle
that already holds its CA is not touched, so repeated syncs change nothing (Argo CD stays Synced).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from urllib3.exceptions import HTTPError

from .kube import REQUEST_TIMEOUT, KubeApi

# As long as the chart's generated certificate (genCA/genSignedCert, 3650 days): the hooks run
# only at installs, upgrades and syncs, so nothing renews it in between.
VALIDITY = datetime.timedelta(days=3650)
# A run that finds less than this left issues a new CA and certificate.
RENEW_BEFORE = datetime.timedelta(days=365)
KEYS = ("tls.crt", "tls.key", "ca.crt")
# No app.kubernetes.io/instance: Argo CD's label tracking would take the Secret, which is in
# no manifest, for a leftover of the application and prune it.
SECRET_LABELS = {
    "app.kubernetes.io/part-of": "wsaudit",
    "app.kubernetes.io/component": "webhook-certificate",
}


@dataclass(frozen=True)
class ServingCertificate:
    """PEM: a CA of its own, the serving certificate it signed, and that certificate's key."""

    ca: bytes
    certificate: bytes
    key: bytes

    def secret_data(self) -> dict[str, str]:
        files = {"ca.crt": self.ca, "tls.crt": self.certificate, "tls.key": self.key}
        return {name: base64.b64encode(pem).decode() for name, pem in files.items()}


def service_names(service: str, namespace: str) -> tuple[str, ...]:
    """The names the API server may use for the webhook's Service (it sends the first as SNI
    and verifies it)."""
    return (f"{service}.{namespace}.svc", f"{service}.{namespace}")


def issue(names: Sequence[str], now: datetime.datetime) -> ServingCertificate:
    """A new CA and a serving certificate for `names`, both valid for VALIDITY."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{names[0]} webhook CA")])
    not_after = now + VALIDITY
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ServingCertificate(
        ca=ca.public_bytes(serialization.Encoding.PEM),
        certificate=certificate.public_bytes(serialization.Encoding.PEM),
        key=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def renewal_reason(
    data: Mapping[str, str] | None, names: Sequence[str], now: datetime.datetime
) -> str | None:
    """Why the Secret's data (base64 values, as the API returns them) cannot keep serving the
    webhook for `names`; None when it can."""
    if data is None:
        return "it does not exist"
    missing = [key for key in KEYS if not data.get(key)]
    if missing:
        return f"it has no {', '.join(missing)}"
    try:
        pem = {key: base64.b64decode(data[key], validate=True) for key in KEYS}
        ca = x509.load_pem_x509_certificate(pem["ca.crt"])
        certificate = x509.load_pem_x509_certificate(pem["tls.crt"])
        key = serialization.load_pem_private_key(pem["tls.key"], password=None)
    except (binascii.Error, ValueError, TypeError):
        return "its certificate, key or CA cannot be read"
    if key.public_key() != certificate.public_key():
        return "tls.key is not the key of tls.crt"
    try:
        certificate.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return "tls.crt is not signed by ca.crt"
    try:
        covered = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        covered = []
    uncovered = [name for name in names if name not in covered]
    if uncovered:
        return f"tls.crt is not for {', '.join(uncovered)}"
    expiry = min(certificate.not_valid_after_utc, ca.not_valid_after_utc)
    if expiry - now < RENEW_BEFORE:
        return f"it expires on {expiry:%Y-%m-%d}"
    return None


class CertificateError(Exception):
    """An API call failed; the message names the object and what the Job's RBAC must allow."""


@dataclass(frozen=True)
class Target:
    namespace: str
    secret: str
    service: str
    webhook_configuration: str


def _api_error(what: str, verb: str, exc: ApiException) -> CertificateError:
    if exc.status == 403:
        return CertificateError(
            f"{what}: forbidden to {verb} it; the chart's hook Role and ClusterRole "
            "(webhook.certificate.source=job) grant exactly that"
        )
    return CertificateError(f"{what}: {verb} failed with HTTP {exc.status} {exc.reason}")


FIELD_MANAGER = "wsaudit-webhook-certificate"


def _plain(api_client: client.ApiClient, obj: object) -> dict[str, Any]:
    return cast(dict[str, Any], api_client.sanitize_for_serialization(obj))  # type: ignore[no-untyped-call]


def _owner_reference(configuration: Mapping[str, Any]) -> dict[str, str]:
    """The Secret goes with the webhook configuration: deleting it (helm uninstall, Argo CD
    pruning) has the garbage collector delete the Secret, and its private key, too."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "name": configuration["metadata"]["name"],
        "uid": configuration["metadata"]["uid"],
    }


class Cluster:
    """The calls of one hook run, each failure a CertificateError naming the object."""

    def __init__(self, api_client: client.ApiClient, target: Target) -> None:
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.admission = client.AdmissionregistrationV1Api(api_client)
        self.target = target
        self.secret_name = f"Secret {target.namespace}/{target.secret}"
        self.configuration_name = f"ValidatingWebhookConfiguration {target.webhook_configuration}"

    def configuration(self) -> dict[str, Any] | None:
        try:
            found = self.admission.read_validating_webhook_configuration(
                self.target.webhook_configuration, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None  # the first install's pre-install run: the post-install run sets it
            raise _api_error(self.configuration_name, "get", exc) from None
        return _plain(self.api_client, found)

    def secret(self) -> dict[str, Any] | None:
        try:
            found = self.core.read_namespaced_secret(
                self.target.secret, self.target.namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _api_error(self.secret_name, "get", exc) from None
        return _plain(self.api_client, found)

    def write_secret(self, body: dict[str, Any]) -> None:
        """Server-side apply: creates the Secret or replaces what this Job wrote before; a
        resourceVersion in the body makes a concurrent change a conflict, not a lost write."""
        try:
            self.core.patch_namespaced_secret(
                self.target.secret,
                self.target.namespace,
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            raise _api_error(self.secret_name, "write", exc) from None

    def patch_secret(self, patch: dict[str, Any]) -> None:
        try:
            self.core.patch_namespaced_secret(
                self.target.secret, self.target.namespace, patch, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            raise _api_error(self.secret_name, "patch", exc) from None

    def patch_configuration(self, operations: list[dict[str, Any]]) -> None:
        try:
            self.admission.patch_validating_webhook_configuration(
                self.target.webhook_configuration, operations, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            raise _api_error(self.configuration_name, "patch", exc) from None


def ensure_secret(
    cluster: Cluster, owner: Mapping[str, Any] | None, now: datetime.datetime
) -> tuple[str, str]:
    """The Secret's CA (base64 PEM, as a caBundle) and what was done to the Secret."""
    target = cluster.target
    names = service_names(target.service, target.namespace)
    existing = cluster.secret()
    reason = renewal_reason(existing.get("data") if existing else None, names, now)
    owners = [_owner_reference(owner)] if owner is not None else []
    if existing is not None and reason is None:
        held = {ref["uid"] for ref in existing["metadata"].get("ownerReferences") or []}
        if owner is not None and owner["metadata"]["uid"] not in held:
            cluster.patch_secret({"metadata": {"ownerReferences": owners}})
        data = existing["data"]
        expiry = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
        return data["ca.crt"], (
            f"{cluster.secret_name}: kept (valid until {expiry.not_valid_after_utc:%Y-%m-%d})"
        )
    issued = issue(names, now).secret_data()
    metadata: dict[str, Any] = {
        "name": target.secret,
        "namespace": target.namespace,
        "labels": SECRET_LABELS,
        "annotations": {"wsaudit.io/service": names[0]},
        "ownerReferences": owners,
    }
    if existing is not None:
        metadata["resourceVersion"] = existing["metadata"]["resourceVersion"]
    cluster.write_secret(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": metadata,
            "data": issued,
        }
    )
    done = "created" if existing is None else f"replaced ({reason})"
    return issued["ca.crt"], f"{cluster.secret_name}: {done}, with a new CA"


def trust_ca(cluster: Cluster, configuration: Mapping[str, Any], ca_bundle: str) -> str:
    """Sets caBundle on every webhook of the configuration that does not hold it already."""
    operations: list[dict[str, Any]] = []
    for index, webhook in enumerate(configuration.get("webhooks") or []):
        if webhook["clientConfig"].get("caBundle") == ca_bundle:
            continue
        # The test makes the patch fail rather than land on another webhook if the list
        # changed since it was read.
        operations.append(
            {"op": "test", "path": f"/webhooks/{index}/name", "value": webhook["name"]}
        )
        operations.append(
            {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": ca_bundle}
        )
    if not operations:
        return f"{cluster.configuration_name}: already trusts the CA"
    cluster.patch_configuration(operations)
    return f"{cluster.configuration_name}: caBundle set on {len(operations) // 2} webhook(s)"


def run(target: Target, now: datetime.datetime) -> list[str]:
    """One hook run: the Secret ensured, then its CA trusted where the configuration exists.
    Returns what was done, a line per object."""
    cluster = Cluster(KubeApi().api_client, target)
    configuration = cluster.configuration()
    ca_bundle, secret_done = ensure_secret(cluster, configuration, now)
    if configuration is None:
        return [
            secret_done,
            f"{cluster.configuration_name}: not there yet (the post-install run sets its caBundle)",
        ]
    return [secret_done, trust_ca(cluster, configuration, ca_bundle)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wsaudit.controller.webhook_certificate",
        description="Create (once) the webhook's serving certificate Secret and set its CA as "
        "the caBundle of the webhook configuration.",
    )
    parser.add_argument("--namespace", required=True, help="the release namespace")
    parser.add_argument("--secret", required=True, help="the Secret the operator mounts")
    parser.add_argument("--service", required=True, help="the webhook's Service")
    parser.add_argument(
        "--webhook-configuration", required=True, help="the ValidatingWebhookConfiguration"
    )
    args = parser.parse_args(argv)
    target = Target(args.namespace, args.secret, args.service, args.webhook_configuration)
    try:
        for line in run(target, datetime.datetime.now(datetime.UTC)):
            print(line)
    except (CertificateError, ConfigException, HTTPError) as exc:
        print(f"wsaudit webhook certificate: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

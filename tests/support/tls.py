"""Server TLS contexts from a test CA (trustme): valid, expired, soon expiring, wrong host."""

from __future__ import annotations

import datetime
import ssl
import tempfile
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def server_context(ca: trustme.CA, *hosts: str, valid_days: float | None = None) -> ssl.SSLContext:
    """A context serving a certificate for `hosts`; `valid_days` < 0 makes it expired."""
    if valid_days is None:
        cert = ca.issue_cert(*hosts)
    else:
        now = datetime.datetime.now(datetime.UTC)
        cert = ca.issue_cert(
            *hosts,
            not_before=now - datetime.timedelta(days=30),
            not_after=now + datetime.timedelta(days=valid_days),
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    key: ec.EllipticCurvePrivateKey,
    days: float,
    *,
    ca: bool,
    host: str | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if host is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def chain_context(
    host: str, *, leaf_days: float, intermediate_days: float
) -> tuple[ssl.SSLContext, bytes]:
    """A server context serving leaf + intermediate (each with its own lifetime) under a
    root; returns it with the root's PEM to trust."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    root = _certificate("Test Root", None, keys[0], 3650, ca=True)
    intermediate = _certificate(
        "Test Intermediate", ("Test Root", keys[0]), keys[1], intermediate_days, ca=True
    )
    leaf = _certificate(
        host, ("Test Intermediate", keys[1]), keys[2], leaf_days, ca=False, host=host
    )
    pem = serialization.Encoding.PEM
    with tempfile.TemporaryDirectory() as directory:
        chain = Path(directory) / "chain.pem"
        key = Path(directory) / "key.pem"
        chain.write_bytes(leaf.public_bytes(pem) + intermediate.public_bytes(pem))
        key.write_bytes(
            keys[2].private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(chain, key)
    return context, root.public_bytes(pem)

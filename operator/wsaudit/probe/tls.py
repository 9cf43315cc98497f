"""TLS settings for a probe and what a server's certificate says."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from .guard import IPAddress


class TlsConfigError(ValueError):
    """The CA file or data cannot be used."""


@functools.lru_cache(maxsize=32)
def client_context(*, ca_data: str | bytes | None = None, insecure: bool = False) -> ssl.SSLContext:
    """A verifying client context (system roots, or the given CA), TLS 1.2 at least.

    Shared by every probe with the same CA (read it, never change it): loading the system
    roots holds the event loop for about 20 ms, so a context per wss:// probe stalled the
    loop for a quarter of a second when 13 such probes started together."""
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            context = ssl.create_default_context(cadata=ca_data)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise TlsConfigError(f"cannot load CA certificates: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # HTTP/1.1 is the only protocol that can carry a WebSocket upgrade (RFC 6455).
    context.set_alpn_protocols(["http/1.1"])
    return context


@dataclass(frozen=True)
class CertificateInfo:
    """The leaf's names, and the expiry that matters: the earliest in the verified chain
    (an intermediate that expires first breaks every connection just the same)."""

    subject: str
    issuer: str
    not_after: datetime.datetime
    dns_names: tuple[str, ...]
    # Which certificate of the chain expires first, when it is not the leaf.
    expires_first: str | None = None

    def days_left(self, now: datetime.datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


def _printable(value: str, limit: int = 200) -> str:
    """Certificate names are the server's bytes: no control characters into a status."""
    return "".join(ch if ch.isprintable() else "?" for ch in value)[:limit]


def _common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return _printable(str(values[0].value) if values else name.rfc4514_string())


def describe_certificate(der: bytes) -> CertificateInfo:
    certificate = x509.load_der_x509_certificate(der)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns_names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns_names = ()
    return CertificateInfo(
        subject=_common_name(certificate.subject),
        issuer=_common_name(certificate.issuer),
        not_after=certificate.not_valid_after_utc,
        dns_names=tuple(_printable(name) for name in dns_names),
    )


def describe_chain(chain: tuple[bytes, ...]) -> CertificateInfo:
    """The leaf (chain[0]) described, with the earliest expiry of the whole chain."""
    leaf = describe_certificate(chain[0])
    earliest = min(
        (x509.load_der_x509_certificate(der) for der in chain[1:]),
        key=lambda certificate: certificate.not_valid_after_utc,
        default=None,
    )
    if earliest is None or earliest.not_valid_after_utc >= leaf.not_after:
        return leaf
    return dataclasses.replace(
        leaf,
        not_after=earliest.not_valid_after_utc,
        expires_first=_common_name(earliest.subject),
    )


async def fetch_certificate(
    address: IPAddress, port: int, server_name: str, deadline: float
) -> bytes | None:
    """The certificate a server presents, unverified: to explain why verification failed."""
    context = client_context(insecure=True)
    with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
        async with asyncio.timeout_at(deadline):
            _reader, writer = await asyncio.open_connection(
                str(address), port, ssl=context, server_hostname=server_name
            )
            try:
                ssl_object = writer.get_extra_info("ssl_object")
                der: bytes | None = ssl_object.getpeercert(binary_form=True)
                return der
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    return None

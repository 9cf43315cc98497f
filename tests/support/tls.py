"""Server TLS contexts from a test CA (trustme): valid, expired, soon expiring, wrong host."""

from __future__ import annotations

import datetime
import ssl

import trustme


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

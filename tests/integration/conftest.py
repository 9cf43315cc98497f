"""Fixtures shared by the integration modules that drive headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trustme

from support.browser import Chromium, SiteCertificate, chromium, ensure_chromium, site_certificate


@pytest.fixture(scope="module")
def site_cert(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> SiteCertificate:
    """One certificate for every host name the attacker pages and the endpoint use."""
    return site_certificate(ca, tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def browser(
    site_cert: SiteCertificate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chromium]:
    """One Chromium per module (a new page per Origin)."""
    reason = ensure_chromium()
    if reason is not None:
        pytest.skip(reason)
    with chromium(tmp_path_factory.mktemp("chromium"), site_cert) as running:
        yield running

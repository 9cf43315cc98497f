"""One real control plane for the whole e2e session; a fresh namespace for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from support.cluster import Cluster, binaries_dir


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("cluster"), binaries_dir())
    running.script("up")
    try:
        yield running
    finally:
        running.script("down")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    # No namespace controller runs (no kube-controller-manager): deletion would stay
    # Terminating, so it is requested without waiting.
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)

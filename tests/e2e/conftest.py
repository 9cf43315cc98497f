"""One real control plane for the whole e2e session; a fresh namespace for each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cluster import Cluster, binaries_dir
from support.operator import BackgroundServers, OperatorProcess, running_operator


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


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> None:
    crd = Path(__file__).resolve().parents[2] / "crds" / "wsaudit.io_websocketendpoints.yaml"
    cluster.kubectl("apply", "--server-side", "-f", str(crd))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/websocketendpoints.wsaudit.io", "--timeout=30s"
    )


@pytest.fixture(scope="session")
def servers() -> Iterator[BackgroundServers]:
    background = BackgroundServers()
    yield background
    background.close()


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "wsaudit.log"
    with running_operator(cluster, log) as process:
        yield process

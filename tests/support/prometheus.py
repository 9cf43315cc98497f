"""A real Prometheus (Debian's package) on loopback, scraping given targets with given rules."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .nginx import free_port

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class Prometheus:
    def __init__(self, port: int) -> None:
        self.port = port

    def api(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["data"]

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts


@contextlib.contextmanager
def running_prometheus(workdir: Path, target: str, rules: Path) -> Iterator[Prometheus]:
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{rules}]\n"
        "scrape_configs:\n"
        f"  - job_name: wsaudit\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=(workdir / "prometheus.log").open("ab"),
        stderr=subprocess.STDOUT,
    )
    prometheus = Prometheus(port)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                prometheus.api("status/runtimeinfo")
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((workdir / "prometheus.log").read_text()[-2000:])
            time.sleep(0.2)
        yield prometheus
    finally:
        process.terminate()
        process.wait(20)

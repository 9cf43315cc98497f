"""A real HAProxy (Debian's package) started on loopback with a generated configuration,
shaped like the one HAProxy Ingress renders (rootfs/etc/templates/haproxy/haproxy.tmpl):
a defaults section with the global timeouts and a backend with the per-Ingress ones."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from support.processes import free_port, serving

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

# HAProxy Ingress's defaults (pkg/converters/ingress/defaults.go:74-80,118).
INGRESS_DEFAULTS = {
    "connect": "5s",
    "client": "50s",
    "server": "50s",
    "tunnel": "1h",
}


def available() -> str | None:
    """None when haproxy can run here, else why not."""
    if not Path(HAPROXY).exists():
        return f"{HAPROXY} is missing (hack/install-system-deps.sh installs it)"
    return None


def render(
    frontend_port: int,
    backend_port: int,
    defaults: Mapping[str, str],
    backend: Mapping[str, str],
) -> str:
    """An haproxy.cfg: `defaults` and `backend` map a timeout name (client, server, tunnel,
    ...) to its value as written in the configuration (a bare number is milliseconds)."""
    default_lines = "\n".join(f"    timeout {name} {value}" for name, value in defaults.items())
    backend_lines = "\n".join(f"    timeout {name} {value}" for name, value in backend.items())
    return f"""
global
    maxconn 256

defaults
    mode http
{default_lines}

frontend http
    bind 127.0.0.1:{frontend_port}
    default_backend app

backend app
{backend_lines}
    server app 127.0.0.1:{backend_port}
"""


@contextlib.contextmanager
def haproxy_running(workdir: Path, config: str, ports: list[int]) -> Iterator[None]:
    """Runs haproxy in the foreground with `config`; returns once every port listens and
    stops it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    log = workdir / "haproxy.log"
    check = subprocess.run(
        [HAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise RuntimeError(f"haproxy rejects the configuration: {check.stderr}{check.stdout}")
    with serving([HAPROXY, "-db", "-f", str(path)], ports, log):
        yield


@contextlib.contextmanager
def haproxy_proxy(
    workdir: Path,
    backend_port: int,
    backend: Mapping[str, str],
    defaults: Mapping[str, str] = INGRESS_DEFAULTS,
) -> Iterator[int]:
    """Runs haproxy proxying 127.0.0.1:<port>/ to the backend; yields the port."""
    port = free_port()
    with haproxy_running(workdir, render(port, backend_port, defaults, backend), [port]):
        yield port

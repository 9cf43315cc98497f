"""A real nginx (Debian's package) started on loopback with a generated configuration."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# The three proxies the issue names: one that carries the upgrade, one that does not
# (nginx's defaults: HTTP/1.0 upstream, hop-by-hop Upgrade/Connection dropped), and one
# that carries it but cuts quiet connections quickly.
LOCATIONS = {
    "upgrade": """
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
    """,
    # "upgrade" keeps nginx's default `proxy_set_header Host $proxy_host` (the upstream's
    # address); this one passes the client's Host on, as same-origin checks need.
    "upgrade-host": """
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $http_host;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
    """,
    "no-upgrade": "",
    "short-read-timeout": """
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout {read_timeout};
    """,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(ports: list[int], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", waiting[0]), 0.2):
            waiting.pop(0)
            continue
        time.sleep(0.05)
    if waiting:
        raise RuntimeError(f"nginx did not listen on {waiting}: {log.read_text(errors='replace')}")


@contextlib.contextmanager
def nginx_running(
    workdir: Path, http: str, ports: list[int], *, worker_connections: int = 64
) -> Iterator[None]:
    """Runs Debian's nginx in the foreground with `http` as the body of its http block
    (servers, maps), every temporary path under `workdir`; returns once every port listens
    and stops it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    config = workdir / "nginx.conf"
    error_log = workdir / "error.log"
    config.write_text(
        f"""
        {user}
        worker_processes 1;
        daemon off;
        pid {workdir}/nginx.pid;
        error_log {error_log} info;
        events {{ worker_connections {worker_connections}; }}
        http {{
            access_log {workdir}/access.log;
            client_body_temp_path {workdir}/client;
            proxy_temp_path {workdir}/proxy;
            fastcgi_temp_path {workdir}/fastcgi;
            uwsgi_temp_path {workdir}/uwsgi;
            scgi_temp_path {workdir}/scgi;
            {http}
        }}
        """
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(workdir), "-c", str(config), "-e", str(error_log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(ports, process, error_log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def nginx_proxy(
    workdir: Path, backend_port: int, mode: str, read_timeout: str = "2s"
) -> Iterator[int]:
    """Runs nginx proxying 127.0.0.1:<port>/ to the backend; yields the port."""
    port = free_port()
    server = f"""
        server {{
            listen 127.0.0.1:{port};
            location / {{
                proxy_pass http://127.0.0.1:{backend_port};
                {LOCATIONS[mode].format(read_timeout=read_timeout)}
            }}
        }}
    """
    with nginx_running(workdir, server, [port]):
        yield port


def nginx_config_test(workdir: Path, http: str) -> tuple[bool, str]:
    """Runs `nginx -t` on a configuration with `http` as the body of its http block (as the
    ingress-nginx admission webhook does with the configuration an Ingress would produce);
    returns whether nginx accepts it and what it printed."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "nginx-test.conf"
    config.write_text(
        f"""
        worker_processes 1;
        pid {workdir}/nginx-test.pid;
        error_log {workdir}/nginx-test-error.log;
        events {{ worker_connections 16; }}
        http {{
            access_log off;
            client_body_temp_path {workdir}/client;
            proxy_temp_path {workdir}/proxy;
            fastcgi_temp_path {workdir}/fastcgi;
            uwsgi_temp_path {workdir}/uwsgi;
            scgi_temp_path {workdir}/scgi;
            {http}
        }}
        """
    )
    done = subprocess.run(
        [NGINX, "-t", "-q", "-p", str(workdir), "-c", str(config), "-e", f"{workdir}/t.log"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0, done.stderr + done.stdout

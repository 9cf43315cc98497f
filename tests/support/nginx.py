"""A real nginx (Debian's package) started on loopback with a generated configuration."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from support.processes import free_port, serving

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


def _config(workdir: Path, http: str, worker_connections: int, *, name: str) -> Path:
    """An nginx configuration with `http` as the body of its http block, every temporary
    path under `workdir`."""
    user = "user root root;" if os.geteuid() == 0 else ""
    config = workdir / f"{name}.conf"
    config.write_text(
        f"""
        {user}
        worker_processes 1;
        daemon off;
        pid {workdir}/{name}.pid;
        error_log {workdir}/{name}-error.log info;
        events {{ worker_connections {worker_connections}; }}
        http {{
            access_log {workdir}/{name}-access.log;
            client_body_temp_path {workdir}/client;
            proxy_temp_path {workdir}/proxy;
            fastcgi_temp_path {workdir}/fastcgi;
            uwsgi_temp_path {workdir}/uwsgi;
            scgi_temp_path {workdir}/scgi;
            {http}
        }}
        """
    )
    return config


@contextlib.contextmanager
def nginx_running(
    workdir: Path, http: str, ports: list[int], *, worker_connections: int = 64
) -> Iterator[None]:
    """Runs Debian's nginx with `http` as the body of its http block (servers, maps);
    returns once every port listens and stops it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = _config(workdir, http, worker_connections, name="nginx")
    error_log = workdir / "nginx-error.log"
    argv = [NGINX, "-p", str(workdir), "-c", str(config), "-e", str(error_log)]
    with serving(argv, ports, error_log):
        yield


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
    config = _config(workdir, http, 16, name="nginx-test")
    done = subprocess.run(
        [NGINX, "-t", "-q", "-p", str(workdir), "-c", str(config), "-e", f"{workdir}/t.log"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0, done.stderr + done.stdout

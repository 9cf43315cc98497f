"""Real servers (nginx, haproxy) run as child processes on loopback for the tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


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
            raise RuntimeError(f"{process.args!r} exited: {log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", waiting[0]), 0.2):
            waiting.pop(0)
            continue
        time.sleep(0.05)
    if waiting:
        raise RuntimeError(f"not listening on {waiting}: {log.read_text(errors='replace')}")


@contextlib.contextmanager
def serving(argv: list[str], ports: list[int], log: Path) -> Iterator[None]:
    """Runs `argv` in the foreground (its output to `log`), returns once every port listens,
    and stops it afterwards (a kill if it does not stop within 10 s)."""
    with log.open("ab") as output:
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_listening(ports, process, log)
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

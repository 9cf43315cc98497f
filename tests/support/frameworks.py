"""The framework battery's registry: every `tests/frameworks/*/framework.json`, built once
into `~/.cache/wsaudit/frameworks/<dir>-<hash>/` and started per scenario.

See tests/frameworks/README.md for the contract each directory follows.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.nginx import LOCATIONS, nginx_proxy
from support.processes import free_port

FRAMEWORKS_DIR = Path(__file__).resolve().parent.parent / "frameworks"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wsaudit" / "frameworks"
HOST = "app.example.com"
ALLOWED_ORIGIN = "https://app.example.com"
START_TIMEOUT = 60.0
BUILD_TIMEOUT = 1800.0
BUILD_KINDS = ("none", "npm", "go", "maven")
LANGUAGES = ("python", "node", "go", "java")
EXCHANGES = ("echo", "socketio")
# Never part of a framework's identity: build outputs and caches that a developer may
# have left in the directory while experimenting.
IGNORED = frozenset({"node_modules", "target", "__pycache__", ".mypy_cache", ".ruff_cache"})
BUILT_MARKER = ".wsaudit-built.json"


class FrameworkError(RuntimeError):
    """A framework directory is invalid, its build failed, or its server did not start."""


@dataclass(frozen=True)
class Framework:
    directory: Path
    name: str
    language: str
    version: str
    docs: str
    build: str
    start: tuple[str, ...]
    exchange: str

    @property
    def key(self) -> str:
        return self.directory.name


@dataclass(frozen=True)
class Scenario:
    framework: str  # the directory name, e.g. gorilla-websocket
    name: str  # the scenario name, also the server's MODE
    path: str
    exchange: str
    allowed: str  # an origin, or "same-origin"
    proxy: str | None
    source: str
    expect: dict[str, Any]
    language: str
    description: str = ""
    spec: Framework | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.framework}/{self.name}"

    def allowed_origin(self, port: int) -> str:
        return f"http://{HOST}:{port}" if self.allowed == "same-origin" else self.allowed


@dataclass(frozen=True)
class Running:
    """A started scenario: `port` is where clients connect (nginx's port behind a proxy)."""

    scenario: Scenario
    port: int
    backend_port: int
    log: Path
    build_dir: Path

    @property
    def host(self) -> str:
        """The Host header (and the origin's authority) clients use."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"ws://{self.host}{self.scenario.path}"

    @property
    def allowed_origin(self) -> str:
        return self.scenario.allowed_origin(self.port)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


# --- Discovery ------------------------------------------------------------------------


def _require(condition: bool, where: Path, message: str) -> None:
    if not condition:
        raise FrameworkError(f"{where}: {message}")


def load(directory: Path) -> tuple[Framework, list[Scenario]]:
    manifest = directory / "framework.json"
    data = json.loads(manifest.read_text())
    for key in ("name", "language", "version", "docs", "build", "start", "exchange", "scenarios"):
        _require(key in data, manifest, f"missing {key!r}")
    _require(data["language"] in LANGUAGES, manifest, f"language must be one of {LANGUAGES}")
    _require(data["build"] in BUILD_KINDS, manifest, f"build must be one of {BUILD_KINDS}")
    _require(data["exchange"] in EXCHANGES, manifest, f"exchange must be one of {EXCHANGES}")
    _require(bool(data["scenarios"]), manifest, "no scenarios")
    framework = Framework(
        directory=directory,
        name=data["name"],
        language=data["language"],
        version=data["version"],
        docs=data["docs"],
        build=data["build"],
        start=tuple(data["start"]),
        exchange=data["exchange"],
    )
    scenarios = []
    for name, body in data["scenarios"].items():
        where = manifest.with_name(f"framework.json#{name}")
        for key in ("path", "allowed", "proxy", "source", "expect"):
            _require(key in body, where, f"missing {key!r}")
        _require(body["proxy"] is None or body["proxy"] in LOCATIONS, where, "unknown nginx mode")
        expect = body["expect"]
        _require(expect.get("handshake") in ("pass", "fail"), where, "expect.handshake")
        _require(
            (expect["handshake"] == "fail") == ("cause" in expect), where, "cause iff it fails"
        )
        _require(body["path"].startswith("/"), where, "path must start with /")
        scenarios.append(
            Scenario(
                framework=directory.name,
                name=name,
                path=body["path"],
                exchange=body.get("exchange", framework.exchange),
                allowed=body["allowed"],
                proxy=body["proxy"],
                source=body["source"],
                expect=expect,
                language=framework.language,
                description=body.get("description", ""),
                spec=framework,
            )
        )
    return framework, scenarios


def discover(root: Path = FRAMEWORKS_DIR) -> list[Scenario]:
    found: list[Scenario] = []
    for manifest in sorted(root.glob("*/framework.json")):
        found.extend(load(manifest.parent)[1])
    return found


SCENARIOS: list[Scenario] = discover()


# --- Builds ---------------------------------------------------------------------------


def _files(directory: Path) -> list[Path]:
    files = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part in IGNORED for part in relative.parts) or not path.is_file():
            continue
        files.append(relative)
    return files


def digest(directory: Path) -> str:
    """A hash of the directory's files (names and contents): a change means a new build."""
    sha = hashlib.sha256()
    for relative in _files(directory):
        sha.update(str(relative).encode() + b"\0")
        sha.update((directory / relative).read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def _build_commands(framework: Framework) -> list[list[str]]:
    match framework.build:
        case "npm":
            return [["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]]
        case "go":
            return [["go", "build", "-trimpath", "-o", "server", "."]]
        case "maven":
            return [["mvn", "-q", "-B", "package", "-DskipTests"]]
        case _:
            return []


def _build_env() -> dict[str, str]:
    env = dict(os.environ)
    # go.mod and go.sum are checked in: never rewrite them, never fetch a newer toolchain.
    env.update(GOFLAGS="-mod=readonly", GOTOOLCHAIN="local", CGO_ENABLED="0")
    env.update(npm_config_update_notifier="false")
    return env


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(framework: Framework) -> Path:
    """The framework's build directory, built once per content hash (safe across processes)."""
    target = CACHE / f"{framework.key}-{digest(framework.directory)}"
    if (target / BUILT_MARKER).exists():
        return target
    with _locked(CACHE / f".{framework.key}.lock"):
        if (target / BUILT_MARKER).exists():
            return target
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        partial.mkdir(parents=True)
        for relative in _files(framework.directory):
            (partial / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(framework.directory / relative, partial / relative)
        started = time.monotonic()
        for command in _build_commands(framework):
            try:
                done = subprocess.run(
                    command,
                    cwd=partial,
                    env=_build_env(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=BUILD_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise FrameworkError(f"{framework.key}: {' '.join(command)}: {exc}") from exc
            if done.returncode != 0:
                output = done.stdout.decode(errors="replace")[-4000:]
                raise FrameworkError(
                    f"{framework.key}: {' '.join(command)} exited {done.returncode}:\n{output}"
                )
        seconds = time.monotonic() - started
        (partial / BUILT_MARKER).write_text(json.dumps({"seconds": round(seconds, 1)}))
        partial.rename(target)
        return target


def build_seconds(build_dir: Path) -> float:
    """How long the build of this directory took (0 for `none`)."""
    seconds: float = json.loads((build_dir / BUILT_MARKER).read_text())["seconds"]
    return seconds


def _jar(build_dir: Path) -> Path:
    jars = [
        jar
        for jar in (build_dir / "target").glob("*.jar")
        if not jar.name.startswith("original-")
        and not jar.name.endswith(("-sources.jar", "-javadoc.jar", "-plain.jar"))
    ]
    if not jars:
        raise FrameworkError(f"{build_dir}: no jar in target/")
    return max(jars, key=lambda jar: jar.stat().st_size)


def command(framework: Framework, build_dir: Path) -> list[str]:
    values = {"python": sys.executable, "bin": str(build_dir / "server")}
    if "{jar}" in " ".join(framework.start):
        values["jar"] = str(_jar(build_dir))
    return [part.format(**values) for part in framework.start]


# --- Processes ------------------------------------------------------------------------


def _wait_accepting(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FrameworkError(
                f"{what} exited with {process.returncode} before accepting on {port}:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise FrameworkError(
        f"{what} did not accept on 127.0.0.1:{port} within {START_TIMEOUT:g} s:\n"
        + log.read_text(errors="replace")[-4000:]
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ends the whole process group the server was started in (npm, mvn and the JVM
    may leave children)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived the leader


@contextlib.contextmanager
def running(scenario: Scenario, workdir: Path) -> Iterator[Running]:
    """Builds (once) and starts the scenario's server on a free loopback port, with nginx
    in front when the scenario has a proxy; stops both afterwards."""
    assert scenario.spec is not None
    build_dir = build(scenario.spec)
    workdir.mkdir(parents=True, exist_ok=True)
    backend = free_port()
    log = workdir / f"{scenario.framework}-{scenario.name}.log"
    env = dict(os.environ)
    env.update(
        PORT=str(backend),
        MODE=scenario.name,
        ALLOWED_ORIGIN=ALLOWED_ORIGIN,
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    argv = command(scenario.spec, build_dir)
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv,
            cwd=build_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_accepting(backend, process, log, f"{scenario.id} ({' '.join(argv)})")
        if scenario.proxy is None:
            yield Running(scenario, backend, backend, log, build_dir)
        else:
            nginx_dir = workdir / f"nginx-{scenario.framework}-{scenario.name}"
            with nginx_proxy(nginx_dir, backend, scenario.proxy) as port:
                yield Running(scenario, port, backend, log, build_dir)
    finally:
        _stop(process)

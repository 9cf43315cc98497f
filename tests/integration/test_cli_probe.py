"""`wsaudit probe` as CI pipelines run it: a real process, exit codes, JSON."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.servers import ALLOWED, websocket_server

pytestmark = pytest.mark.integration


async def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsaudit.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


async def test_strict_server_exits_0_with_tls_optional() -> None:
    async with websocket_server("strict") as server:
        done = await run_cli(
            "probe", server.url(), "--allowed-origin", ALLOWED, "--allow-private", "--tls-optional"
        )
    assert done.returncode == 0, done.stdout
    assert "PASS  handshake" in done.stdout
    assert "WARN  tls.scheme" in done.stdout
    assert "\033[" not in done.stdout  # no colour when not a terminal


async def test_vulnerable_server_exits_1_and_json_follows_the_contract() -> None:
    async with websocket_server("none") as server:
        done = await run_cli(
            "probe",
            server.url(),
            "--allowed-origin",
            ALLOWED,
            "--allow-private",
            "--output",
            "json",
        )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["url"] == server.url()
    assert set(report["timings"]) >= {"dns", "connect", "handshake", "total"}
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["origin.foreign"]["status"] == "fail"
    assert all(set(c) == {"id", "status", "message", "details"} for c in report["checks"])


async def test_guarded_target_fails_with_a_hint() -> None:
    done = await run_cli("probe", "ws://127.0.0.1:9/", "--timeout", "2")
    assert done.returncode == 1
    assert "--allow-private" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["probe", "http://example.com"], "use wss:// for https"),
        (["probe", "wss://a.example", "--header", "nocolon"], "'nocolon' is not 'Name: value'"),
        (["probe", "wss://a.example", "--header", "Origin: x"], "cannot be overridden"),
        (["probe", "wss://a.example", "--timeout", "-1"], "must be above 0"),
        (["probe", "wss://a.example", "--allowed-origin", "a.example"], "not an origin"),
        (["probe", "wss://a.example", "--deny-cidr", "nope"], "not a CIDR"),
        (["probe", "wss://a.example", "--bearer-token-file", "/nonexistent"], "cannot read"),
        (["probe"], "required"),
        (["frobnicate"], "invalid choice"),
    ],
)
async def test_invalid_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    done = await run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--header", "X-Team: équipe"], "visible ASCII"),
        (["--header", "X-A: a\x1bb"], "control characters"),
        (["--allowed-origin", "https://a\x1b.example"], "control characters"),
        (["--ca-file", "/dev/zero"], "not a regular file"),
        (["--bearer-token-file", "/dev/zero"], "not a regular file"),
        (["--connect-to", "a b c"], "ADDR[:PORT]"),
    ],
)
async def test_bad_input_is_one_line_and_exit_2(args: list[str], words: str) -> None:
    done = await run_cli("probe", "wss://app.example.com/ws", *args)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


async def test_a_fifo_as_token_file_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "token"
    os.mkfifo(fifo)
    done = await asyncio.wait_for(
        run_cli("probe", "wss://app.example.com/ws", "--bearer-token-file", str(fifo)), 10
    )
    assert done.returncode == 2
    assert "not a regular file" in done.stderr


async def test_a_non_ascii_url_is_probed_not_a_traceback() -> None:
    async with websocket_server("strict") as server:
        done = await run_cli(
            "probe",
            server.url(path="/ünïcode?q=☃"),
            "--allowed-origin",
            ALLOWED,
            "--allow-private",
            "--tls-optional",
            "--output",
            "json",
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["checks"]

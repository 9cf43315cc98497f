"""`make demo`'s scenario, shortened: every failure mode diagnosed, everything cleaned up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
DEMO = Path(__file__).resolve().parents[2] / "hack" / "demo.py"

EXPECTED = [
    "healthy (wss with a strict origin allow-list): Ready=True AllChecksPassed",
    "any-origin (accepts every Origin (CSWSH)): Ready=False UntrustedOriginAccepted",
    "FAIL origin.foreign: origin check accepts https://wsaudit-foreign.example",
    "prefix-bug (checks the Origin with startswith()): Ready=False UntrustedOriginAccepted",
    "FAIL origin.suffix-appended: origin check accepts "
    "https://app.example.com.wsaudit-attacker.example (cross-site: any web page",
    "it likely compares a prefix (startswith('https://app.example.com')",
    "plaintext (served over ws://): Ready=False InsecureScheme",
    "Ready=False UpgradeNotForwarded",
    "proxy_set_header Upgrade $http_upgrade",
    "Ready=False IngressTimeoutsShort",
    "Warning: wsaudit ingress-nginx.proxy-http-version",
    'wsaudit_endpoint_origin_enforced{name="any-origin",namespace="demo"} 0.0',
    "FAIL  idle",
    "an idle connection was cut after 3.",
    "Cleaned up: operator, servers, nginx and the control plane are stopped.",
]


def run_demo(state: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(DEMO), "--once", "--nginx-read-timeout", "3", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_demo_diagnoses_every_failure_and_runs_twice(tmp_path: Path) -> None:
    for attempt in range(2):  # a second run starts from a clean state too
        output = run_demo(tmp_path)
        missing = [line for line in EXPECTED if line not in output]
        assert not missing, f"run {attempt + 1} lacks {missing}:\n{output[-4000:]}"
        assert not list((tmp_path / "cluster").glob("*.pid"))
        leftovers = subprocess.run(
            ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
        )
        assert leftovers.stdout == ""

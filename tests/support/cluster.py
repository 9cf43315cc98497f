"""The local control plane (hack/cluster.sh) as the e2e tests use it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HACK = ROOT / "hack"


def binaries_dir() -> Path:
    """Builds (or reuses) the Go-built binaries and returns their directory; the build's
    progress lines go to stderr, so a cold build is visible."""
    done = subprocess.run(
        ["bash", str(HACK / "build-binaries.sh")], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(done.stdout.strip())


def pinned_versions() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (HACK / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {key.strip(): value.strip() for key, value in pairs}


@dataclass
class Cluster:
    state_dir: Path
    bin_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WSAUDIT_CLUSTER_DIR": str(self.state_dir),
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "HELM_CACHE_HOME": str(self.state_dir / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.state_dir / "helm-config"),
            "HELM_DATA_HOME": str(self.state_dir / "helm-data"),
        }

    def script(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs hack/cluster.sh against this cluster's state directory."""
        done = subprocess.run(
            ["bash", str(HACK / "cluster.sh"), *args],
            env=self._env(),
            check=False,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(args)} failed:\n{done.stderr}")
        return done

    def run(
        self,
        tool: str,
        *args: str,
        kubeconfig: Path | None = None,
        stdin: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        env = self._env()
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        done = subprocess.run(
            [str(self.bin_dir / tool), *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed:\n{done.stderr}")
        return done

    def kubectl(self, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, **options)  # type: ignore[arg-type]

    def helm(self, *args: str, **options: object) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, **options)  # type: ignore[arg-type]

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        done = self.script("credentials", "--service-account", f"{namespace}/{name}")
        return Path(done.stdout.strip())

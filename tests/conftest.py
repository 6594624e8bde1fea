"""Fixtures shared by every accelhub test suite."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.browser import browser, page, playwright_instance  # noqa: F401 (fixtures)
from tests.helpers.processes import ServerProcess, start_jupyter_server

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and logs for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for servers started by tests: the venv's tools first on PATH."""
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    tools_bin = str(REPO_ROOT / ".tools" / "node_modules" / ".bin")
    env["PATH"] = os.pathsep.join([bin_dir, tools_bin, env.get("PATH", "")])
    env.update(extra)
    return env


@dataclass
class LabServer:
    """A running ``jupyter lab`` with the accelhub extension."""

    url: str
    token: str
    root_dir: Path
    process: ServerProcess

    def api_url(self, path: str) -> str:
        return f"{self.url}{path.lstrip('/')}"


def launch_lab(root: Path, runtime: Path, extra_env: dict[str, str] | None = None) -> LabServer:
    """Start a real JupyterLab on a free loopback port, token-protected."""
    env = subprocess_env(JUPYTER_RUNTIME_DIR=str(runtime), **(extra_env or {}))
    url, token, process = start_jupyter_server(
        "jupyterlab",
        root,
        runtime / "lab.log",
        env,
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    )
    return LabServer(url=url, token=token, root_dir=root, process=process)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A real JupyterLab with the accelhub extension and no GPU at all."""
    server = launch_lab(
        tmp_path_factory.mktemp("lab-root"),
        tmp_path_factory.mktemp("lab-runtime"),
        # No NVML library reachable: telemetry must say so, not fail.
        {"LD_LIBRARY_PATH": "", "NVIDIA_VISIBLE_DEVICES": "none"},
    )
    yield server
    server.process.stop()

"""The wheel `pip wheel . --no-deps` builds and both images' installs of it, begun in the
background as soon as collection has selected the tests that use them.

Building and installing from the package index is mostly waiting (`pip download` of the
`[server]` side: 45 s wall for 4 s of CPU; `[hub]`: 64 s for 5 s), so it overlaps the tests
that run before these; their fixtures wait for the result. Each install is a fresh
virtualenv and pip run of its own, sharing nothing but the read-only wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO_ROOT, subprocess_env

#: The images whose `pip install` line is installed, each into its own virtualenv.
IMAGES = ("hub", "singleuser")


def image_requirement(image: str) -> str:
    """The one quoted requirement of images/<image>/Dockerfile's `pip install`."""
    text = (REPO_ROOT / "images" / image / "Dockerfile").read_text().replace("\\\n", " ")
    installs = re.findall(r"^RUN pip install (.*)$", text, flags=re.MULTILINE)
    assert len(installs) == 1, f"{image}: expected one `RUN pip install`, found {installs}"
    (requirement,) = re.findall(r'"([^"]+)"', installs[0].split("&&")[0])
    return requirement


@dataclass
class Installed:
    """A fresh virtualenv with one side of accelhub installed from the wheel."""

    prefix: Path
    cwd: Path
    env: dict[str, str]

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, capture_output=True, text=True, env=self.env, cwd=self.cwd, check=check
        )

    def importable(self, module: str) -> bool:
        probe = f"import importlib.util as u; print(bool(u.find_spec({module!r})))"
        found = self.run("python", "-c", probe)
        return found.stdout.strip() == "True"


def install(image: str, wheel: Path, root: Path) -> Installed:
    requirement = image_requirement(image)
    match = re.fullmatch(r"(?P<path>[^\[]+)(?P<extras>\[[a-z,]+\])", requirement)
    assert match, f"{image}: {requirement!r} is not <wheel>[extra]"
    assert Path(match["path"]).name == wheel.name, f"{image} installs another wheel than the build"
    root.mkdir(parents=True)
    prefix = root / "venv"
    venv.EnvBuilder(with_pip=True).create(prefix)
    data = root / "jupyter-data"  # no user-level Jupyter files from this machine
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "CONDA"))
    }
    env.update(
        PATH=os.pathsep.join([str(prefix / "bin"), "/usr/bin", "/bin"]),
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_DATA_DIR=str(data),
        JUPYTER_PLATFORM_DIRS="1",
    )
    installed = Installed(prefix=prefix, cwd=root, env=env)
    installed.run("python", "-m", "pip", "install", "-q", f"{wheel}{match['extras']}")
    return installed


def build_wheel(out: Path) -> Path:
    """`pip wheel . --no-deps` of this checkout into ``out``."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO_ROOT)],
        check=True,
        env=subprocess_env(),
        capture_output=True,
    )
    (built,) = out.glob("accelhub-*.whl")
    return built


class Builds:
    """The wheel, then every image's install, on threads of their own below ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pool = ThreadPoolExecutor(max_workers=1 + len(IMAGES))
        self.wheel: Future[Path] = self._pool.submit(build_wheel, root / "wheel")
        self.installs: dict[str, Future[Installed]] = {}

    def start_installs(self) -> dict[str, Future[Installed]]:
        """Begin the images' installs (once); each waits for the wheel first."""
        if not self.installs:
            for image in IMAGES:
                self.installs[image] = self._pool.submit(self._install, image)
        return self.installs

    def _install(self, image: str) -> Installed:
        return install(image, self.wheel.result(), self.root / image)

    def close(self) -> None:
        """Wait for what is under way, then remove every build."""
        self._pool.shutdown(cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)

"""The wheel carries the prebuilt labextension and enables the server extension."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from hub_ext import __version__
from tests.conftest import REPO_ROOT, subprocess_env

LABEXT = "share/jupyter/labextensions/@accelhub/labextension"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO_ROOT)],
        check=True,
        env=subprocess_env(),
        capture_output=True,
    )
    (built,) = out.glob("accelhub-*.whl")
    return built


def test_wheel_contains_labextension_server_config_and_packages(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"accelhub-{__version__}.data"
    assert f"{data}/data/{LABEXT}/package.json" in names
    assert any(n.startswith(f"{data}/data/{LABEXT}/static/remoteEntry.") for n in names)
    assert f"{data}/data/{LABEXT}/install.json" in names
    assert f"{data}/data/etc/jupyter/jupyter_server_config.d/accelhub.json" in names
    for package in ("hub_ext", "server_ext", "devstack"):
        assert f"{package}/__init__.py" in names
    assert "hub_ext/catalogs/ai-infn.yaml" in names  # the catalog AI_INFN_CATALOG names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "accelhub = hub_ext.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_fresh_virtualenv_lists_both_extensions_enabled(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this test run's environment (no network needed);
    # accelhub itself comes only from the wheel.
    (next((env_dir / "lib").glob("python3.*")) / "site-packages" / "deps.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n"
    )
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    env = subprocess_env()
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_CONFIG_PATH", None)
    labext = subprocess.run(
        [python, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    listing = labext.stdout + labext.stderr
    line = next(line for line in listing.splitlines() if "@accelhub/labextension" in line)
    assert "enabled" in line and "OK" in line
    assert str(env_dir) in listing

    server = subprocess.run(
        [python, "-m", "jupyter_server.extension.serverextension", "list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    listing = server.stdout + server.stderr
    assert "server_ext \x1b[32menabled" in listing or "server_ext enabled" in listing
    assert f"server_ext {__version__}" in listing and "OK" in listing
    # The wheel, not the working tree, provided the package.
    where = subprocess.run(
        [python, "-c", "import server_ext; print(server_ext.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(str(env_dir))

"""The wheel carries the product: hub_ext, server_ext, the prebuilt labextension and the
server extension's enabling config; devstack and the demo stay in the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from hub_ext import __version__
from tests.conftest import REPO_ROOT, subprocess_env

LABEXT = "share/jupyter/labextensions/@accelhub/labextension"


def test_wheel_contains_labextension_server_config_and_packages(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    data = f"accelhub-{__version__}.data"
    assert f"{data}/data/{LABEXT}/package.json" in names
    assert any(n.startswith(f"{data}/data/{LABEXT}/static/remoteEntry.") for n in names)
    assert f"{data}/data/{LABEXT}/install.json" in names
    assert f"{data}/data/etc/jupyter/jupyter_server_config.d/accelhub.json" in names
    for package in ("hub_ext", "server_ext"):
        assert f"{package}/__init__.py" in names
    assert not [n for n in names if n.startswith(("devstack/", "hub_ext/demo/"))]
    assert {n.split("/")[0] for n in names if not n.startswith("accelhub-")} == {
        "hub_ext",
        "server_ext",
    }
    assert "hub_ext/catalogs/ai-infn.yaml" in names  # the catalog AI_INFN_CATALOG names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "accelhub = hub_ext.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_devstack_is_a_distribution_of_its_own(tmp_path: Path) -> None:
    project = REPO_ROOT / "devstack-dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), project],
        check=True,
        env=subprocess_env(),
        capture_output=True,
    )
    (built,) = tmp_path.glob("accelhub_devstack-*.whl")
    archive = zipfile.ZipFile(built)
    names = set(archive.namelist())
    assert {"devstack/__init__.py", "devstack/clusters/ai_infn.yaml"} <= names
    assert "devstack/nvml/csrc/simapi.c" in names  # built into libnvidia-ml at run time
    assert not [n for n in names if "/node_modules/" in n or n.endswith(".pyc")]
    assert {n.split("/")[0] for n in names if not n.startswith("accelhub_devstack-")} == {
        "devstack"
    }
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert "Requires-Dist: accelhub\n" in archive.read(metadata).decode()

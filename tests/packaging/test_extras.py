"""Each side installs alone from the wheel, exactly as its image does, and works.

The requirement each test installs is read from images/<image>/Dockerfile, so the images
cannot drift from what is tested here. Each install goes into a fresh virtualenv with
nothing from this checkout on its path (dependencies come from the package index);
tests/packaging/installs.py makes them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hub_ext import __version__
from tests.conftest import REPO_ROOT
from tests.packaging.installs import Builds, Installed, image_requirement

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]  # two installs from the index

HUB_ONLY = (
    "jupyterhub",
    "kubespawner",
    "oauthenticator",
    "kubernetes_asyncio",
    "sqlalchemy",
    "alembic",
)
SERVER_ONLY = ("jupyter_server", "jupyterlab", "pynvml", "nbclient", "psutil")


@pytest.fixture(scope="module")
def sides(builds: Builds) -> dict[str, Installed]:
    """Both images' installs, begun when collection selected this module's tests."""
    return {image: future.result() for image, future in builds.start_installs().items()}


@pytest.fixture(scope="module")
def hub(sides: dict[str, Installed]) -> Installed:
    return sides["hub"]


@pytest.fixture(scope="module")
def server(sides: dict[str, Installed]) -> Installed:
    return sides["singleuser"]


CHART_FILE = Path(REPO_ROOT).parent / "shared" / "z2jh" / "chart" / "Chart.yaml"


def test_the_images_install_the_wheel_with_their_side() -> None:
    assert image_requirement("hub").endswith("[hub]")
    assert image_requirement("singleuser").endswith("[server]")
    hub_from = re.search(r"^FROM (\S+)", (REPO_ROOT / "images/hub/Dockerfile").read_text(), re.M)
    assert hub_from and hub_from[1].startswith("quay.io/jupyterhub/k8s-hub:4.")


@pytest.mark.skipif(not CHART_FILE.is_file(), reason="the z2jh chart is not in ../shared")
def test_the_hub_image_follows_the_chart_line_the_values_target() -> None:
    assert 'appVersion: "5.' in CHART_FILE.read_text()  # the chart 4.x line, JupyterHub 5.x


def test_hub_side_spawner_entry_point_and_service(hub: Installed) -> None:
    loaded = hub.run(
        "python",
        "-c",
        "from importlib.metadata import entry_points\n"
        "import sys, kubespawner\n"
        "cls = entry_points(group='jupyterhub.spawners')['accelerator'].load()\n"
        "assert issubclass(cls, kubespawner.KubeSpawner)\n"
        "print(cls.__name__, sys.modules[cls.__module__].__file__)",
    )
    name, path = loaded.stdout.split()
    assert name == "AcceleratorSpawner" and path.startswith(str(hub.prefix))
    authenticator = hub.run(
        "python",
        "-c",
        "from importlib.metadata import entry_points\n"
        "from oauthenticator.generic import GenericOAuthenticator\n"
        "cls = entry_points(group='jupyterhub.authenticators')['accelhub-oidc'].load()\n"
        "assert issubclass(cls, GenericOAuthenticator)\n"
        "print(cls.__name__)",
    )
    assert authenticator.stdout.split() == ["AccelhubOAuthenticator"]

    assert "usage: accelhub service" in hub.run("accelhub", "service", "--help").stdout
    # traitlets' own help: the service's application and its dependencies import.
    options = hub.run("accelhub", "service", "--help-all").stdout
    assert "--AccelhubService." in options

    # What the admin guide runs from a `[hub]` install on the admin's own machine.
    manifests = hub.run("accelhub", "manifests", "--namespace", "jhub", "--release", "hub")
    assert "kind: PriorityClass" in manifests.stdout
    values = REPO_ROOT / "helm-values" / "values.yaml"
    hub.run("accelhub", "values", "check", str(values))

    assert not [m for m in SERVER_ONLY if hub.importable(m)]
    assert not hub.importable("devstack")
    devstack = hub.run("accelhub", "devstack", "up", check=False)
    assert devstack.returncode == 2
    assert "module 'devstack' is not installed" in devstack.stderr
    assert "Traceback" not in devstack.stderr


def test_server_side_extensions_load_and_list(server: Installed) -> None:
    extensions = server.run("jupyter", "server", "extension", "list")
    listing = re.sub(r"\x1b\[[0-9;]*m", "", extensions.stdout + extensions.stderr)
    assert f"Config dir: {server.prefix}/etc/jupyter" in listing
    assert "server_ext enabled" in listing
    assert f"server_ext {__version__} OK" in listing

    labextensions = server.run("jupyter", "labextension", "list")
    listing = re.sub(r"\x1b\[[0-9;]*m", "", labextensions.stdout + labextensions.stderr)
    assert f"{server.prefix}/share/jupyter/labextensions" in listing
    line = next(line for line in listing.splitlines() if "@accelhub/labextension" in line)
    assert f"v{__version__} enabled OK" in line

    # The offload runner executes a notebook with the kernel the image has.
    notebook = server.cwd / "sum.ipynb"
    server.run(
        "python",
        "-c",
        "import nbformat, sys\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('print(6 * 7)')])\n"
        "nbformat.write(nb, sys.argv[1])",
        str(notebook),
    )
    ran = server.run("python", "-m", "server_ext.offload.runner", "--notebook", str(notebook))
    header = next(line for line in ran.stdout.splitlines() if "@@accelhub:result-begin" in line)
    assert json.loads(header.split(" ", 1)[1])["state"] == "succeeded"
    assert "42" in ran.stdout.splitlines()

    assert not [m for m in HUB_ONLY if server.importable(m)]
    service = server.run("accelhub", "service", check=False)
    assert service.returncode == 2
    assert "pip install 'accelhub[hub]'" in service.stderr
    assert "Traceback" not in service.stderr

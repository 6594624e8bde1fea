"""The demo's platform for browser tests: devstack, JupyterHub with the AcceleratorSpawner and
the hub service, configured exactly as `make demo` configures them (hub_ext.demo.config)."""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from hub_ext.demo.config import PASSWORD, DemoPorts, hub_config
from tests.conftest import subprocess_env
from tests.devstack.conftest import start_devstack, stop_devstack
from tests.helpers.net import free_port
from tests.helpers.processes import ServerProcess


@dataclass
class Platform:
    url: str
    kubeconfig: Path


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("platform")
    devstack = start_devstack(state / "devstack")
    ports = DemoPorts.pick(free_port())
    config = state / "jupyterhub_config.py"
    config.write_text(hub_config(state, devstack.kubeconfig, ports, secrets.token_hex(24)))
    env = subprocess_env(KUBECONFIG=str(devstack.kubeconfig))
    hub = ServerProcess(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)], state / "hub.log", env, state
    )
    try:
        hub.wait_until_serving(f"http://127.0.0.1:{ports.public}/hub/api/", 120, require_ok=True)
        hub.wait_until_serving(
            f"http://127.0.0.1:{ports.service}/services/accelhub/api/v1/openapi.json",
            60,
            require_ok=True,
        )
        yield Platform(url=f"http://127.0.0.1:{ports.public}", kubeconfig=devstack.kubeconfig)
    finally:
        hub.stop(timeout=60)
        stop_devstack(devstack)


def login(browser: Browser, platform: Platform, user: str) -> Page:
    page = browser.new_context(viewport={"width": 1300, "height": 950}).new_page()
    page.goto(f"{platform.url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(re.compile(r".*/hub/(spawn|home).*"))
    return page

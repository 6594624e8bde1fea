"""The whole platform in Chromium: devstack, JupyterHub with the AcceleratorSpawner, the hub
service with an active hackathon reservation, and GPU telemetry in the spawned JupyterLab.

This is what `make demo` runs; screenshots land in docs/images for the guides.
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from hub_ext.demo.config import PASSWORD, DemoPorts, hub_config
from tests.conftest import REPO_ROOT, subprocess_env
from tests.devstack.conftest import start_devstack, stop_devstack
from tests.helpers.net import free_port
from tests.helpers.processes import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOCS_IMAGES = REPO_ROOT / "docs" / "images"


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


def open_gpu_panel(page: Page) -> None:
    dismiss = page.get_by_role("button", name="No", exact=True)
    status = page.locator(".accelhub-GpuStatus")
    expect(status).to_be_visible(timeout=60_000)
    status.click()
    expect(page.locator("#accelhub-gpu-panel")).to_be_visible()
    if dismiss.count():
        dismiss.first.click()


def test_participant_gets_a_reserved_mig_slice_and_sees_its_telemetry(
    browser: Browser, platform: Platform
) -> None:
    page = login(browser, platform, "h1")
    page.goto(f"{platform.url}/hub/spawn")
    reserved = page.locator('.accelhub-flavor[data-flavor="mig-1g-10gb"]')
    expect(reserved.locator(".accelhub-badge")).to_contain_text("Reserved for hackathon")
    # Outside the reservation a participant's group has no quota: the entry says why.
    expect(page.locator("body")).to_contain_text("Your group's quota for this flavor is used up.")
    page.screenshot(path=str(DOCS_IMAGES / "spawn-form.png"), full_page=True)

    page.check("input[value='mig-1g-10gb']")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r".*/user/h1/lab.*"), timeout=120_000)
    status = page.locator(".accelhub-GpuStatus")
    expect(status).to_have_text(re.compile(r"^MIG · [\d.]+/9\.5 GB$"), timeout=60_000)

    open_gpu_panel(page)
    mig_cards = page.locator('.accelhub-GpuCard[data-kind="mig"]')
    expect(mig_cards).to_have_count(1, timeout=30_000)
    expect(mig_cards.first.locator("header")).to_contain_text("MIG 1g.10gb")
    expect(mig_cards.first.locator('[data-metric="util"]')).to_have_text("util n/a")
    page.wait_for_timeout(2000)
    page.screenshot(path=str(DOCS_IMAGES / "gpu-panel-mig.png"))


def test_researcher_on_a_t4_sees_live_charts(browser: Browser, platform: Platform) -> None:
    page = login(browser, platform, "rita")
    page.goto(f"{platform.url}/hub/spawn")
    page.check("input[value='t4']")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(r".*/user/rita/lab.*"), timeout=120_000)
    status = page.locator(".accelhub-GpuStatus")
    expect(status).to_have_text(re.compile(r"^GPU \d+% · [\d.]+/15 GB$"), timeout=60_000)

    open_gpu_panel(page)
    card = page.locator(".accelhub-GpuCard", has_text="Tesla T4")
    expect(card).to_have_count(1, timeout=30_000)
    chart = card.locator('.accelhub-GpuChart[data-metric="utilization_gpu"] canvas')
    expect(chart).to_be_visible()
    first = chart.screenshot()
    page.wait_for_timeout(3500)
    assert chart.screenshot() != first, "the T4 utilisation chart did not move in 3.5 s"
    page.screenshot(path=str(DOCS_IMAGES / "gpu-panel-t4.png"))

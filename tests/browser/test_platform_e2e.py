"""The whole platform in Chromium: devstack, JupyterHub with the AcceleratorSpawner, the hub
service with an active hackathon reservation, and GPU telemetry in the spawned JupyterLab.

This is what `make demo` runs; screenshots land in docs/images for the guides.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.platform import Platform, login
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOCS_IMAGES = REPO_ROOT / "docs" / "images"


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

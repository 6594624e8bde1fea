"""The spawn form in Chromium: pick a MIG slice and reach JupyterLab."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hub_ext.spawner.errors import ADVICE, WAIT_ADVICE
from tests.conftest import REPO_ROOT
from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub
from tests.spawner.kube import get_pod, hold_devices, release, wait_phase

pytestmark = [pytest.mark.browser, pytest.mark.integration]
DOCS_IMAGES = REPO_ROOT / "docs" / "images"
T4 = {"nvidia.com/gpu.product": "Tesla-T4"}


@pytest.fixture(scope="module")
def chromium(browser: object) -> object:
    """The shared Chromium (tests/helpers/browser.py)."""
    return browser


def log_in(page: Any, hub: SpawnerHub, user: str) -> None:
    """Log ``user`` in on the hub's login page (the dummy authenticator's password)."""
    page.goto(f"{hub.url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "pw")
    page.click("input[type=submit], button[type=submit]")


def test_pick_a_mig_slice_and_reach_jupyterlab(
    chromium: object,
    spawner_hub: SpawnerHub,
    spawner_devstack: RunningDevstack,
    artifacts_dir: Path,
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    try:
        log_in(page, spawner_hub, "fred")
        page.goto(f"{spawner_hub.url}/hub/spawn")
        row = page.locator('[data-flavor="mig-1g-10gb"]')
        expect(row).to_contain_text("free")
        page.check("#accelhub-mig-1g-10gb")
        expect(row.locator('select[name="mig-1g-10gb--memory"]')).to_be_visible()
        page.screenshot(path=str(artifacts_dir / "spawner-form.png"), full_page=True)
        page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
        page.wait_for_url("**/user/fred/lab**", timeout=90_000)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=60_000)
        pod = get_pod(spawner_devstack, "accelhub", "jupyter-fred")
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/mig-1g.10gb"] == "1"
        assert pod["spec"]["nodeName"] in ("a100-2", "a100-3")
    finally:
        context.close()
        spawner_hub.stop("fred")


def test_a_refused_spawn_reads_as_a_sentence(
    chromium: object, spawner_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    """The T4s are taken between loading the form and pressing Start: the page says so and
    what to do in an alert, without JupyterHub's "Error:" label or the exception's repr, above
    the form."""
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    try:
        log_in(page, spawner_hub, "bob")
        page.goto(f"{spawner_hub.url}/hub/spawn")
        page.check("#accelhub-t4")
        hold_devices(spawner_devstack, "hackathon", "hold-t4", "nvidia.com/gpu", 2, T4)
        wait_phase(spawner_devstack, "hackathon", "hold-t4", "Running")
        page.uncheck('input[name="t4--wait"]')
        page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
        error = page.locator(".spawn-error-msg")
        expect(error.get_by_role("alert")).to_have_text(
            f"Only 0 of 2 NVIDIA Tesla T4 device(s) are free; you asked for 1. {WAIT_ADVICE}"
        )
        for debug in ("Error:", "SpawnException", "reason="):
            expect(error).not_to_contain_text(debug)
        expect(page.locator("#spawn_form #accelhub-t4")).to_be_checked()  # the choice is kept
        page.screenshot(path=str(DOCS_IMAGES / "spawn-refused.png"), full_page=False)
    finally:
        context.close()
        release(spawner_devstack, "hackathon", "hold-t4")


def test_a_spawn_that_gives_up_on_the_progress_page_reads_as_a_sentence(
    chromium: object, spawner_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    """Every T4 is held, the user waits in line, and the spawn gives up at its start timeout:
    the progress page (then the "Spawn failed" page) shows the sentence and what to do, not
    JupyterHub's ``Spawn failed: <message>``."""
    from playwright.sync_api import Browser, expect

    assert isinstance(chromium, Browser)
    hold_devices(spawner_devstack, "hackathon", "hold-t4-late", "nvidia.com/gpu", 2, T4)
    context = chromium.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    try:
        wait_phase(spawner_devstack, "hackathon", "hold-t4-late", "Running")
        log_in(page, spawner_hub, "bob")
        page.goto(f"{spawner_hub.url}/hub/spawn/bob/late")
        page.check("#accelhub-t4")
        page.check('input[name="t4--wait"]')
        page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
        page.wait_for_url("**/hub/spawn-pending/bob/late**", timeout=60_000)
        failed = re.compile("bg-danger")  # the bar turns red when the stream says "failed"
        expect(page.locator("#progress-bar")).to_have_class(failed, timeout=120_000)
        gave_up = re.compile(
            r"^Gave up after \d+ seconds waiting for a node with 1 x NVIDIA Tesla T4 GPU\..* "
            + re.escape(ADVICE["timeout"])
            + "$"
        )
        expect(page.locator("#progress-message")).to_have_text(gave_up)
        page.reload()
        expect(page.locator("h1")).to_have_text("Spawn failed")
        expect(page.locator("p", has_text="Gave up after")).to_have_text(gave_up)
        for debug in ("Spawn failed:", "SpawnException", "reason="):
            expect(page.locator("body")).not_to_contain_text(debug)
    finally:
        context.close()
        release(spawner_devstack, "hackathon", "hold-t4-late")
        spawner_hub.stop("bob", "late")

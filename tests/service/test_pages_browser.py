"""The service's pages in Chromium: an organiser reserves through the form; admins and users
see their pages; an organiser is kept out of the admin page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.service.hubstack import Hub

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def chromium(browser: Browser) -> Browser:
    """The shared Chromium (tests/helpers/browser.py)."""
    return browser


def login(browser: Browser, hub: Hub, user: str) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "pw")
    page.click("[type=submit]")
    page.wait_for_url("**/hub/**")
    return page


def test_organiser_reserves_through_the_page(
    chromium: Browser, hub: Hub, artifacts_dir: Path
) -> None:
    page = login(chromium, hub, "org")
    page.goto(hub.service_url + "organiser")
    page.wait_for_selector("form#create")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    end = start + timedelta(hours=3)
    page.select_option("select[name=flavor]", "t4")
    page.fill("input[name=start]", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=end]", end.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=name]", "Browser hackathon")
    page.click("form#create button[type=submit]")
    page.wait_for_selector("text=Browser hackathon")
    row = page.locator("#reservations tr", has_text="Browser hackathon")
    assert "hack" in row.inner_text() and "h1" in row.inner_text()
    page.screenshot(path=str(artifacts_dir / "service-organiser.png"), full_page=True)
    denied = page.goto(hub.service_url + "admin")
    assert denied is not None and denied.status == 403
    page.context.close()


def test_admin_and_user_pages(chromium: Browser, hub: Hub, artifacts_dir: Path) -> None:
    granted = hub.call(
        "admit", "POST", "admissions", json={"user": "ada", "flavor": "a100", "count": 1}
    ).json()
    assert granted["granted"]
    admin = login(chromium, hub, "boss")
    admin.goto(hub.service_url + "admin")
    admin.wait_for_selector("#flavors")
    assert "a100" in admin.locator("#flavors").inner_text()
    assert "ada" in admin.locator("#leases").inner_text()
    assert "physics" in admin.locator("#groups").inner_text()
    admin.screenshot(path=str(artifacts_dir / "service-admin.png"), full_page=True)
    admin.context.close()
    user = login(chromium, hub, "ada")
    user.goto(hub.service_url + "me")
    user.wait_for_selector("#entitlements")
    assert "a100" in user.locator("#leases").inner_text()
    user.screenshot(path=str(artifacts_dir / "service-me.png"), full_page=True)
    user.context.close()

"""An admin edits a group's quotas in Chromium: the next admission obeys the change, the page
lists it, bad input reads as a sentence, and a post without the page's XSRF token is refused."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.service.hubstack import Hub
from tests.service.test_pages_browser import DOCS_IMAGES, login

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def admit(hub: Hub, user: str, flavor: str, server: str) -> dict[str, Any]:
    body = {"user": user, "server": server, "flavor": flavor, "count": 1}
    response = hub.call("admit", "POST", "admissions", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def idlers_quotas(hub: Hub) -> Any:
    return hub.hub_api("GET", "/groups/idlers").json()["properties"]["accelhub"].get("quotas")


def open_editor(page: Page, group: str) -> Any:
    editor = page.locator(f"#edit-{group}")
    editor.locator("summary").click()
    return editor


def test_admin_edits_a_quota_and_the_next_admission_obeys(browser: Browser, hub: Hub) -> None:
    # idlers may hold 10 devices of any flavor (their properties), 2 each
    assert admit(hub, "idle1", "t4", "before")["granted"]
    page = login(browser, hub, "boss")
    page.goto(hub.service_url + "admin")
    editor = open_editor(page, "idlers")
    editor.locator("select[name='mode:t4']").select_option("closed")
    editor.locator("select[name='mode:a100']").select_option("limit")
    editor.locator("input[name='devices:a100']").fill("3")
    editor.locator("input[name='per_user:a100']").fill("1")
    editor.locator("[type=submit]").scroll_into_view_if_needed()
    page.locator("#quotas").evaluate("e => e.closest('section').scrollIntoView()")
    page.locator("section[aria-labelledby=quotas]").screenshot(
        path=str(DOCS_IMAGES / "service-quota-editor.png")
    )
    editor.locator("[type=submit]").click()
    page.wait_for_url("**/admin?changed=idlers#quotas")
    assert page.locator("#quota-status").inner_text() == "The quotas of idlers are saved."
    assert idlers_quotas(hub) == {
        "t4": {"devices": 0, "per_user": 0},
        "a100": {"devices": 3, "per_user": 1},
        "*": {"devices": 10, "per_user": 2},
    }
    refused = admit(hub, "idle2", "t4", "after")
    assert refused["granted"] is False and refused["reason"] == "not_allowed", refused
    assert refused["message"] == "t4 is closed to idlers by an administrator."
    change = page.locator("#quota-changes tbody tr").first.inner_text()
    assert "boss" in change and "idlers" in change, change
    assert "T4: closed to the group" in change and "3 devices for the group" in change, change
    page.locator("#quota-changes").screenshot(path=str(DOCS_IMAGES / "service-quota-changes.png"))

    # bad input: a sentence naming the field, nothing changed
    editor = open_editor(page, "idlers")
    editor.locator("input[name='devices:a100']").fill("-3")
    with page.expect_navigation() as answer:
        editor.locator("[type=submit]").click()
    assert answer.value is not None and answer.value.status == 400
    status = page.locator("#quota-status")
    assert status.inner_text() == (
        "The quotas of idlers were not saved: The devices for the group of A100 must be "
        "between 0 and 100000, not -3."
    )
    assert "alert-danger" in (status.get_attribute("class") or "")
    assert idlers_quotas(hub)["a100"] == {"devices": 3, "per_user": 1}

    # the admin's own cookie without the page's XSRF token: refused, nothing changed
    forged = page.request.post(
        hub.service_url + "admin/quotas/idlers", form={"mode:*": "closed"}, max_redirects=0
    )
    assert forged.status == 403, forged.text()
    assert idlers_quotas(hub)["*"] == {"devices": 10, "per_user": 2}
    page.context.close()

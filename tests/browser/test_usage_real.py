"""Usage and live quotas on servers that really ran, in Chromium on the demo platform.

A researcher starts a T4 server from the hub's spawn form; its server extension reports the
simulated NVML's utilisation and power to the service every `ACTIVITY_INTERVAL` seconds (the
demo's setting; a GPU is busy in a report when its mean utilisation reached
`TelemetryConfig.busy_threshold`). The researcher's dashboard and the admin's page then chart
allocated and busy device-hours and energy for today from those reports. The admin closes the
T4 to the researcher's group on the admin page: the researcher's next start through /hub/spawn
(the real AcceleratorSpawner) is refused with a sentence, the change is in the audit list, and
once the admin opens it again the next start succeeds.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from hub_ext.demo.config import ACTIVITY_INTERVAL
from hub_ext.spawner.errors import ADVICE
from tests.browser.platform import Platform, login
from tests.conftest import REPO_ROOT
from tests.helpers.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOCS_IMAGES = REPO_ROOT / "docs" / "images"
RESEARCHER, GROUP, ADMIN = "paul", "physics", "ana"  # paul: physics only (hub_ext/service/demo.py)
CLOSED = "t4 is closed to physics by an administrator."


def start(page: Page, platform: Platform, flavor: str) -> None:
    page.goto(f"{platform.url}/hub/spawn")
    page.check(f"input[value='{flavor}']")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(re.compile(rf".*/user/{RESEARCHER}/lab.*"), timeout=120_000)


def stop(page: Page, platform: Platform) -> None:
    """Stop the server from the hub's home page; done when the spawn form is back (while
    the server is stopping, /hub/spawn shows no form)."""
    page.goto(f"{platform.url}/hub/home")
    page.locator("#stop").click()
    expect(page.locator("#start")).to_be_visible(timeout=60_000)

    def form_back() -> str:
        page.goto(f"{platform.url}/hub/spawn")
        if page.locator(".accelhub-flavor").count():
            return "form"
        return ""  # still stopping: the hub shows its pending page

    until(form_back, timeout=120, interval=1)


def chart_data(page: Page) -> dict[str, Any]:
    """The figures the page's chart draws (its JSON block, there without JavaScript too)."""
    return dict(json.loads(page.locator("#usage-data").inner_text()))


def today(page: Page, key: str) -> tuple[float, float | None]:
    """Allocated and busy device-hours of ``key`` today (the chart's last day)."""
    data = chart_data(page)
    allocated = data["allocated"].get(key, [0.0])[-1]
    busy = data["busy"].get(key, [None])[-1]
    return allocated, busy


def figures(page: Page, key: str) -> dict[str, float | None]:
    """The usage table's row of ``key``: the exact values of its <data> cells (device-hours,
    kWh), as rendered without JavaScript."""
    row = page.locator("#usage-totals tbody tr", has_text=key)
    cells = row.locator("td")
    values: dict[str, float | None] = {}
    for name, index in (("allocated", 1), ("busy", 2), ("energy_kwh", 5)):
        data = cells.nth(index).locator("data")
        values[name] = float(data.get_attribute("value") or "nan") if data.count() else None
    return values


def busy_today(page: Page, url: str, key: str) -> tuple[float, float] | None:
    """Today's allocated and busy device-hours of ``key`` once the telemetry saw it busy."""
    page.goto(url)
    allocated, busy = today(page, key)
    return (allocated, busy) if busy else None


def plausible(page: Page, key: str) -> dict[str, float | None]:
    """The row's figures, checked: allocated >= busy > 0 and energy > 0, none reading 0."""
    seen = figures(page, key)
    texts = page.locator("#usage-totals tbody tr", has_text=key).locator("td").all_inner_texts()
    assert "0 device-hours" not in texts[1:3] and texts[5] != "0 Wh", texts
    allocated, busy, energy = seen["allocated"], seen["busy"], seen["energy_kwh"]
    assert allocated is not None and busy is not None and energy is not None, seen
    assert allocated >= busy > 0 and energy > 0, seen
    assert allocated < 0.5, seen  # one device for a few minutes, not hours
    return seen


def test_researcher_and_admin_see_the_usage_of_a_server_that_ran(
    browser: Browser, platform: Platform
) -> None:
    admin = login(browser, platform, ADMIN)
    usage = f"{platform.url}/services/accelhub/admin?days=7&by="
    admin.goto(usage + "group")
    assert chart_data(admin)["allocated"] == {}, chart_data(admin)  # nothing has run yet
    assert admin.locator("#usage-chart").count() == 0

    researcher = login(browser, platform, RESEARCHER)
    start(researcher, platform, "t4")  # JupyterLab opened on a T4 of devstack's node
    mine = f"{platform.url}/services/accelhub/me?days=7"
    allocated, busy = until(
        lambda: busy_today(researcher, mine, "t4"), timeout=12 * ACTIVITY_INTERVAL, interval=2
    )
    assert allocated >= busy > 0, (allocated, busy)
    expect(researcher.locator("#usage-chart .uplot canvas")).to_be_visible()
    assert "t4 allocated" in researcher.locator("#usage-chart .u-legend").inner_text()
    mine_now = plausible(researcher, "NVIDIA Tesla T4")
    researcher.screenshot(path=str(DOCS_IMAGES / "service-me.png"), full_page=True)

    admin.goto(usage + "group")  # the admin's charts fill: the group, then the flavor
    expect(admin.locator("#usage-chart .uplot canvas")).to_be_visible()
    group_today, group_busy = today(admin, GROUP)
    # the server still runs: its device-hours count up to now, beyond what the researcher saw
    assert group_today > allocated and group_busy, (group_today, allocated)
    assert list(chart_data(admin)["allocated"]) == [GROUP], chart_data(admin)
    plausible(admin, GROUP)
    assert "NVIDIA Tesla T4" in admin.locator("#flavor-use").inner_text()
    admin.locator("#usage-chart").scroll_into_view_if_needed()
    admin.screenshot(path=str(DOCS_IMAGES / "service-admin.png"), full_page=True)
    admin.goto(usage + "flavor")
    assert list(chart_data(admin)["allocated"]) == ["t4"], chart_data(admin)
    plausible(admin, "NVIDIA Tesla T4")
    admin.context.close()

    stop(researcher, platform)
    researcher.goto(mine)  # after the stop, the day keeps what the server used
    stopped = plausible(researcher, "NVIDIA Tesla T4")
    assert (stopped["allocated"] or 0) >= (mine_now["allocated"] or 0), (stopped, mine_now)
    researcher.context.close()


def edit_t4(admin: Page, platform: Platform, mode: str) -> None:
    """The admin sets the T4 row of the researcher's group's quota editor to ``mode``."""
    admin.goto(f"{platform.url}/services/accelhub/admin")
    editor = admin.locator(f"#edit-{GROUP}")
    editor.locator("summary").click()
    editor.locator("select[name='mode:t4']").select_option(mode)
    editor.locator("[type=submit]").click()
    admin.wait_for_url(f"**/admin?changed={GROUP}#quotas")


def test_admin_closes_a_flavor_and_the_next_spawn_obeys_both_ways(
    browser: Browser, platform: Platform
) -> None:
    researcher = login(browser, platform, RESEARCHER)
    admin = login(browser, platform, ADMIN)
    researcher.goto(f"{platform.url}/hub/spawn")
    researcher.check("input[value='t4']")  # the form was open before the admin's change
    edit_t4(admin, platform, "closed")
    assert admin.locator("#quota-status").inner_text() == f"The quotas of {GROUP} are saved."
    change = admin.locator("#quota-changes tbody tr").first.locator("td").all_inner_texts()
    assert change[1:4] == [ADMIN, GROUP, "quotas"], change  # then from, to
    assert change[4] == "every flavor: 4 devices for the group, at most 2 per member", change
    assert "NVIDIA Tesla T4: closed to the group" in change[5], change
    assert "every other flavor: 4 devices for the group, at most 2 per member" in change[5]

    researcher.get_by_role("button", name="Start").click()  # the real spawner asks the service
    expect(researcher.locator("body")).to_contain_text(CLOSED, timeout=60_000)
    page = researcher.locator("body").inner_text()
    assert CLOSED in page and "SpawnException" not in page, page
    refusal = researcher.locator(".spawn-error-msg").get_by_role("alert")
    expect(refusal).to_have_text(f"{CLOSED} {ADVICE['not_allowed']}")  # the advice once
    assert f"/user/{RESEARCHER}/" not in researcher.url
    researcher.goto(f"{platform.url}/hub/spawn")  # the form now says so before any start
    t4 = researcher.locator(".accelhub-flavor[data-flavor='t4']")
    expect(t4.locator("input[name=flavor]")).to_be_disabled()
    expect(t4.locator(".accelhub-why")).to_have_text("None of your groups may use this flavor.")

    edit_t4(admin, platform, "inherit")  # back to the group's own "every flavor" limits
    change = admin.locator("#quota-changes tbody tr").first.locator("td").all_inner_texts()
    assert change[1:4] == [ADMIN, GROUP, "quotas"]
    assert "closed" in change[4] and "closed" not in change[5], change
    assert admin.locator("#quota-changes tbody tr").count() == 2
    start(researcher, platform, "t4")  # effective at once the other way too (the platform's
    researcher.context.close()  # teardown stops the server)
    admin.context.close()

"""The service's pages in Chromium: an organiser reserves through the form; admins and users
see their pages; an organiser is kept out of the admin page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import REPO_ROOT
from tests.service.hubstack import Hub
from tests.service.past_usage import PastServer, seed

pytestmark = [pytest.mark.browser, pytest.mark.integration]
DOCS_IMAGES = REPO_ROOT / "docs" / "images"


@pytest.fixture(scope="module")
def chromium(browser: Browser) -> Browser:
    """The shared Chromium (tests/helpers/browser.py)."""
    return browser


def login(browser: Browser, hub: Hub, user: str, scheme: str = "light") -> Page:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        color_scheme=scheme,  # type: ignore[arg-type]
    )
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "pw")
    page.click("[type=submit]")
    page.wait_for_url(re.compile(r".*/(hub|user)/.*"))  # a second login may reach the server
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
    groups = admin.locator("#groups").inner_text()
    assert "physics" in groups
    # quotas as sentences, not JSON; no figure is a bare "?"
    assert "2 devices for the group, at most 1 per member" in groups, groups
    physics = admin.locator("#groups tr", has_text="physics").inner_text()
    bio = admin.locator("#groups tr", has_text="bio").first.inner_text()
    assert "from the group's properties in JupyterHub" in physics, physics
    assert "from the config file" in bio, bio
    assert "{" not in groups and '"devices"' not in groups
    for cell in admin.locator("td").all_inner_texts():
        assert cell.strip() != "?", admin.content()
    admin.screenshot(path=str(artifacts_dir / "service-admin.png"), full_page=True)
    admin.context.close()
    user = login(chromium, hub, "ada")
    user.goto(hub.service_url + "me")
    user.wait_for_selector("#entitlements")
    leases = user.locator("#leases").inner_text()
    assert "a100" in leases.lower()
    # times in the reader's zone (the page's script), with a relative hint
    since = user.locator("#leases time").first
    assert since.get_attribute("class") == "local"
    assert "ago" in leases or "just now" in leases, leases
    assert not re.search(r"\d{4}-\d\d-\d\dT|\.\d{6}", leases), leases  # no ISO, no microseconds
    user.screenshot(path=str(artifacts_dir / "service-me.png"), full_page=True)
    user.context.close()


def test_pages_wear_the_hubs_look_and_dark_theme(chromium: Browser, hub: Hub) -> None:
    """The hub's own stylesheet, navbar and dark theme; data shown without JavaScript; the
    navigation reachable from the keyboard."""
    page = login(chromium, hub, "boss", scheme="dark")
    page.goto(hub.service_url + "admin")
    page.wait_for_selector("#flavors")
    assert page.locator("html").get_attribute("data-bs-theme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(x) for x in background[background.index("(") + 1 : -1].split(",")[:3])
    assert max(red, green, blue) < 80, background  # Bootstrap's dark body, from the hub's CSS
    assert page.locator("nav.navbar img.jpy-logo").is_visible()
    page.screenshot(path=str(DOCS_IMAGES / "service-admin-dark.png"))
    page.keyboard.press("Tab")  # the skip link comes first, then the navbar's links
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "My accelerators"
    page.context.close()
    plain = chromium.new_context(java_script_enabled=False)
    nojs = plain.new_page()
    nojs.goto(f"{hub.url}/hub/login")
    nojs.fill("input[name=username]", "ada")
    nojs.fill("input[name=password]", "pw")
    nojs.click("[type=submit]")
    nojs.goto(hub.service_url + "me")
    assert "What I may start" in nojs.locator("main").inner_text()
    # ada still holds the A100 granted above: without the script, its time reads in UTC
    assert re.search(r"\d\d \w{3} \d{4}, \d\d:\d\d UTC", nojs.locator("#leases").inner_text())
    plain.close()


PAST = [
    PastServer("ada", "physics", "a100", hours=4, busy=0.75, days_ago=(1, 2, 3, 4, 5, 6)),
    PastServer("dee", "bio", "t4", hours=6, busy=0.25, days_ago=(1, 2, 4, 5)),
    PastServer("h1", "hack", "t4", hours=2, busy=0.5, days_ago=(1, 2)),
]


def totals(page: Page) -> dict[str, list[str]]:
    rows = page.locator("#usage-totals tbody tr").all()
    return {r.locator("td").first.inner_text(): r.locator("td").all_inner_texts() for r in rows}


def test_usage_charts_for_admin_organiser_and_researcher(
    chromium: Browser, hub: Hub, artifacts_dir: Path
) -> None:
    """After servers ran on past days (seeded history: a multi-day window), the admin sees
    allocated vs busy per day by group and by flavor, each flavor's utilisation and the idle
    holders; the organiser only their groups; the researcher their own. The guides' pictures
    of the admin page and the dashboard come from servers that really ran
    (tests/browser/test_usage_real.py)."""
    seed(hub.service_db, PAST)
    held = hub.call("admit", "POST", "admissions", json={"user": "eve", "flavor": "t4"}).json()
    assert held["granted"], held
    admin = login(chromium, hub, "boss")
    admin.goto(hub.service_url + "admin?days=7&by=group")
    admin.wait_for_selector("#usage-chart .uplot canvas")
    by_group = totals(admin)
    assert by_group["physics"][1:4] == ["24 device-hours", "18 device-hours", "75 %"], by_group
    # energy: 18 busy hours at 40 W and 6 idle ones at 10 W
    assert by_group["physics"][5] == "780 Wh", by_group
    assert by_group["bio"][1:4] == ["24 device-hours", "6 device-hours", "25 %"], by_group
    legend = admin.locator("#usage-chart .u-legend").inner_text()
    assert "physics allocated" in legend and "bio busy" in legend, legend
    flavors = admin.locator("#flavor-use").inner_text()
    assert "T4" in flavors and "28 device-hours" in flavors, flavors
    idle = admin.locator("#idle").inner_text()
    assert "eve" in idle and "no telemetry yet" in idle, idle
    admin.locator("#usage-chart").scroll_into_view_if_needed()
    admin.screenshot(path=str(artifacts_dir / "service-admin-seeded.png"), full_page=True)
    admin.select_option("#by", "flavor")
    admin.click("form[aria-label='Usage window'] button[type=submit]")
    admin.wait_for_url("**by=flavor**")
    admin.wait_for_selector("#usage-chart .uplot canvas")
    assert "a100 allocated" in admin.locator("#usage-chart .u-legend").inner_text()
    admin.context.close()

    organiser = login(chromium, hub, "org")  # organises hack only
    organiser.goto(hub.service_url + "organiser?days=7")
    organiser.wait_for_selector("#usage-chart .uplot canvas")
    assert set(totals(organiser)) == {"hack"}, totals(organiser)
    organiser.screenshot(path=str(DOCS_IMAGES / "service-organiser.png"), full_page=True)
    organiser.context.close()

    researcher = login(chromium, hub, "ada")
    researcher.goto(hub.service_url + "me?days=7")
    researcher.wait_for_selector("#usage-chart .uplot canvas")
    mine = totals(researcher)
    assert list(mine) == ["A100"] and mine["A100"][1] == "24 device-hours", mine
    researcher.screenshot(path=str(artifacts_dir / "service-me-seeded.png"), full_page=True)
    researcher.context.close()


def test_organiser_gets_a_sentence_for_a_bad_window_and_cancels(
    chromium: Browser, hub: Hub
) -> None:
    page = login(chromium, hub, "org")
    page.goto(hub.service_url + "organiser")
    page.wait_for_selector("form#create")
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=2)
    page.select_option("select[name=flavor]", "a100")  # the T4s may be reserved above
    page.fill("input[name=start]", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=end]", (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=name]", "Backwards")
    page.click("form#create button[type=submit]")
    status = page.locator("#status")
    status.wait_for(state="visible")
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    assert status.inner_text() == "The reservation must end after it starts."
    assert "alert-danger" in (status.get_attribute("class") or "")
    page.screenshot(path=str(DOCS_IMAGES / "service-organiser-error.png"))
    page.fill("input[name=end]", (start + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=name]", "Friday tutorial")
    page.click("form#create button[type=submit]")
    row = page.locator("#reservations tr", has_text="Friday tutorial")
    row.wait_for()
    assert "starts in 2 h" in row.inner_text(), row.inner_text()
    href = row.locator("a[data-usage]").get_attribute("href") or ""
    usage = page.request.get(hub.url + href)
    assert usage.status == 200, usage.text()  # the event's usage, per participant
    assert usage.text().startswith("user,device_hours,leases,"), usage.text()
    row.locator("button[data-cancel]").focus()  # reachable and pressed from the keyboard
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    page.locator("#reservations tr", has_text="Friday tutorial").wait_for(state="detached")
    page.context.close()


def test_organiser_extends_from_the_page_and_a_bad_shrink_reads_as_a_sentence(
    chromium: Browser, hub: Hub
) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    ask = {"group": "hack", "flavor": "a100", "count": 2, "name": "Resize me"}
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat()}
    made = hub.call("org", "POST", "reservations", json={**ask, **window})
    assert made.status_code == 201, made.text
    path = f"reservations/{made.json()['id']}"
    page = login(chromium, hub, "org")
    page.goto(hub.service_url + "organiser")
    form = page.locator("#reservations tr", has_text="Resize me").locator("form[data-change]")
    assert form.locator("input[name=start]").count() == 0  # started: its start is not offered
    later = start + timedelta(hours=5)
    form.locator("input[name=end]").fill(later.strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=count]").fill("3")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    row = page.locator("#reservations tr", has_text="Resize me")
    row.locator("input[name=count][value='3']").wait_for()  # the page shows the new size
    stored = hub.call("org", "GET", path).json()
    assert (stored["size"], datetime.fromisoformat(stored["end"])) == (3, later), stored
    leases = []
    for user in ("h2", "h3"):  # two participants claim their devices
        body = {"user": user, "server": "", "flavor": "a100"}
        granted = hub.call("admit", "POST", "admissions", json=body).json()
        assert granted.get("granted"), granted
        leases.append(granted["lease"]["id"])
    page.reload()
    assert "h2: claimed" in row.inner_text(), row.inner_text()
    row.locator("input[name=count]").fill("1")
    row.locator("form[data-change] button[type=submit]").click()
    status = page.locator("#status")
    page.wait_for_function("document.getElementById('status').textContent.length > 0")
    assert status.inner_text() == (
        "Participants already claimed 2 of its devices; it cannot shrink below 2."
    )
    assert "alert-danger" in (status.get_attribute("class") or "")
    page.screenshot(path=str(DOCS_IMAGES / "service-organiser-shrink.png"))
    assert hub.call("org", "GET", path).json()["size"] == 3  # nothing changed
    for lease_id in leases:
        assert hub.call("admit", "DELETE", f"leases/{lease_id}").status_code == 204
    assert hub.call("org", "DELETE", path).status_code == 204
    page.context.close()


def test_organiser_renames_and_moves_a_future_reservation_and_sees_the_change_listed(
    chromium: Browser, hub: Hub
) -> None:
    """The Change form edits the name and start of a reservation not yet started; a bad start
    and more devices than exist read as sentences and keep what was typed; the change is
    listed with who made it."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=3)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}
    ask = {"group": "hack", "flavor": "a100", "count": 1, "name": "Evening lab", **window}
    made = hub.call("org", "POST", "reservations", json=ask)
    assert made.status_code == 201, made.text
    path = f"reservations/{made.json()['id']}"
    page = login(chromium, hub, "org")
    page.goto(hub.service_url + "organiser")
    form = page.locator(f"form[data-change='{made.json()['id']}']")
    status = page.locator("#status")

    def refused_with(sentence: str) -> None:
        form.locator("button[type=submit]").click()
        page.wait_for_function("document.getElementById('status').textContent.length > 0")
        assert status.inner_text() == sentence
        page.evaluate("document.getElementById('status').textContent = ''")

    form.locator("input[name=name]").fill("Evening session")
    bad_start = (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    form.locator("input[name=start]").fill(bad_start)  # after its end
    refused_with("The reservation must end after it starts.")
    assert form.locator("input[name=name]").input_value() == "Evening session"  # kept
    assert form.locator("input[name=start]").input_value() == bad_start
    page.screenshot(path=str(DOCS_IMAGES / "service-organiser-change-error.png"))
    form.locator("input[name=start]").fill((start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=count]").fill("99")
    refused_with("The cluster has only 8 a100 devices; 99 were asked for.")
    form.locator("input[name=count]").fill("1")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    row = page.locator("#reservations tr", has_text="Evening session")
    row.wait_for()
    assert "starts in 4 h" in row.inner_text(), row.inner_text()
    stored = hub.call("org", "GET", path).json()
    assert (stored["name"], datetime.fromisoformat(stored["start"])) == (
        "Evening session",
        start + timedelta(hours=1),
    ), stored
    change = page.locator("#reservation-changes tr", has_text="Evening session").first
    listed = change.inner_text()
    assert "org" in listed and "name: Evening lab → Evening session" in listed, listed
    assert re.search(r"start: .*\(in 3 h\) → .*\(in 4 h\)", listed), listed
    assert "size" not in listed  # only what changed
    page.locator("#reservation-changes").scroll_into_view_if_needed()
    page.screenshot(path=str(DOCS_IMAGES / "service-organiser-changes.png"), full_page=True)
    usage = page.request.get(
        hub.url + (row.locator("a[data-usage-json]").get_attribute("href") or "")
    )
    assert usage.status == 200 and usage.json()["group_by"] == "user", usage.text()
    assert hub.call("org", "DELETE", path).status_code == 204
    page.reload()
    cancelled = page.locator("#reservation-changes tr", has_text="Evening session").first
    assert "cancelled" in cancelled.inner_text()
    assert page.locator("#reservations tr", has_text="Evening session").count() == 0
    page.context.close()

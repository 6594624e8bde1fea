"""An admin opens a restricted flavor to a group on the admin page and closes it again, in
Chromium on the demo platform: the member's spawn form follows at once, the spawn runs with the
flavor's device, the audit list shows the changes and a forged spawn of a closed flavor gets a
sentence."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import urljoin

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.platform import Platform, login
from tests.browser.test_usage_real import stop
from tests.conftest import REPO_ROOT, subprocess_env
from tests.devstack.conftest import kubectl_path

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOCS_IMAGES = REPO_ROOT / "docs" / "images"
MEMBER = "paul"  # physics only: the catalog gives fpga-u55c to fpga-users
GROUP = "physics"
FLAVOR = "fpga-u55c"
FPGA = "amd.com/xilinx_u55c_gen3x16_xdma_base_3-0"
SENTENCE = "AMD-Xilinx Alveo U55C FPGA is closed to physics by an administrator."


def offered(page: Page, platform: Platform) -> set[str]:
    page.goto(f"{platform.url}/hub/spawn/{MEMBER}")
    expect(page.locator(".accelhub-flavor").first).to_be_visible()
    return set(
        page.locator(".accelhub-flavor").evaluate_all("rows => rows.map(r => r.dataset.flavor)")
    )


def set_access(page: Page, platform: Platform, choice: str, screenshot: bool = False) -> None:
    page.goto(f"{platform.url}/services/accelhub/admin")
    editor = page.locator(f"#edit-{GROUP}")
    editor.locator("summary").click()
    select = editor.locator(f"select[name='access:{FLAVOR}']")
    expect(select.locator("option[value=catalog]")).to_have_text("as the catalog says")
    row = select.locator("xpath=ancestor::tr[1]")
    expect(row.locator(".catalog-access")).to_have_text("catalog: only for fpga-users")
    select.select_option(choice)
    if screenshot:
        editor.scroll_into_view_if_needed()
        editor.screenshot(path=str(DOCS_IMAGES / "service-flavor-access.png"))
    editor.locator("[type=submit]").click()
    page.wait_for_url(f"**/admin?changed={GROUP}#quotas")
    expect(page.locator("#quota-status")).to_have_text(f"The quotas of {GROUP} are saved.")


def pod_limits(platform: Platform) -> dict[str, str]:
    done = subprocess.run(
        [kubectl_path(), "get", "pod", "-n", "accelhub", f"jupyter-{MEMBER}", "-o", "json"],
        env=subprocess_env(KUBECONFIG=str(platform.kubeconfig)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    pod = json.loads(done.stdout)
    return dict(pod["spec"]["containers"][0]["resources"]["limits"])


def test_admin_opens_then_closes_a_restricted_flavor_to_a_group(
    browser: Browser, platform: Platform
) -> None:
    member = login(browser, platform, MEMBER)
    assert FLAVOR not in offered(member, platform)
    admin = login(browser, platform, "ana")

    set_access(admin, platform, "open", screenshot=True)
    assert FLAVOR in offered(member, platform)  # the next form, no restart
    member.check(f"input[value='{FLAVOR}']")
    member.get_by_role("button", name="Start").click()
    member.wait_for_url(re.compile(rf".*/user/{MEMBER}/lab.*"), timeout=180_000)
    assert pod_limits(platform)[FPGA] == "1"

    admin.reload()
    change = admin.locator("#quota-changes tbody tr").first
    expect(change).to_contain_text("ana")
    expect(change).to_contain_text(GROUP)
    expect(change).to_contain_text("flavor access")
    expect(change.locator("td").nth(4)).to_have_text("as the catalog says")
    expect(change.locator("td").nth(5)).to_have_text(
        "AMD-Xilinx Alveo U55C FPGA: open to the group"
    )
    admin.locator("#quota-changes").screenshot(path=str(DOCS_IMAGES / "service-access-changes.png"))

    stop(member, platform)  # done when the spawn form is back

    set_access(admin, platform, "closed")
    expect(admin.locator("#quota-changes tbody tr").first.locator("td").nth(5)).to_have_text(
        "AMD-Xilinx Alveo U55C FPGA: closed to the group"
    )
    assert FLAVOR not in offered(member, platform)
    action = member.locator("#spawn_form").get_attribute("action") or ""  # carries ?_xsrf=
    forged = member.request.post(urljoin(member.url, action), form={"flavor": FLAVOR})
    body = forged.text()
    assert SENTENCE in body, body[-3000:]
    assert "SpawnException" not in body and "Traceback" not in body
    member.context.close()
    admin.context.close()

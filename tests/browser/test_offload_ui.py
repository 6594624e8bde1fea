"""Offload from JupyterLab, in Chromium: a real JupyterHub, the accelhub service and its
gateway, the AcceleratorSpawner on devstack, devstack's InterLink sites, and bob's JupyterLab
with this checkout's labextension. Screenshots for the user guide land in docs/images."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Locator, Page, Response, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import REPO_ROOT
from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack
from tests.spawner.hubstack import SpawnerHub
from tests.spawner.offload_stack import Server, cell, site_faults, start_offload_hub

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOCS_IMAGES = REPO_ROOT / "docs" / "images"
LABEXTENSION = REPO_ROOT / "server_ext" / "labextension"
USER = "bob"  # group physics only: a100 (ml-experts) and fpga-u55c (fpga-users) are not his
GPU_SITE, CPU_SITE = "vk-leonardo-cineca", "vk-infn-cloud-bologna"
SBATCH = "sbatch: error: Batch job submission failed: "
JOB_TIMEOUT = 120_000


@dataclass
class Platform:
    hub: SpawnerHub
    devstack: RunningDevstack
    server: Server


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """devstack (AI_INFN cluster, two InterLink sites), the hub with the service, bob's server.

    The user server finds this checkout's built labextension first on its JUPYTER_PATH.
    """
    if not (LABEXTENSION / "package.json").exists():
        pytest.fail(f"{LABEXTENSION} is not built: run `make test-browser` (it builds it)")
    state = tmp_path_factory.mktemp("offload-ui")
    scope = state / "share" / "labextensions" / "@accelhub"
    scope.mkdir(parents=True)
    (scope / "labextension").symlink_to(LABEXTENSION)
    devstack = start_devstack(state / "devstack", None, None, "--site-poll", "0.3")
    try:
        hub = start_offload_hub(
            state / "hub", devstack.kubeconfig, {"JUPYTER_PATH": str(state / "share")}
        )
        try:
            server = Server(hub, USER)
            server.start()
            # The page loads this checkout's build (its entry's name carries a content hash).
            load = json.loads((LABEXTENSION / "package.json").read_text())["jupyterlab"]
            assert load["_build"]["load"] in server.call("GET", "lab").text
            yield Platform(hub, devstack, server)
        finally:
            hub.shutdown()
    finally:
        stop_devstack(devstack)


# -- the server's API as the dialog reads it ----------------------------------------------


def test_the_dialogs_data_come_through_the_users_server(platform: Platform) -> None:
    server = platform.server
    data = server.offload("GET", "sites", params={"flavor": "t4"}).json()
    assert {s["name"] for s in data["sites"]} == {GPU_SITE, CPU_SITE}
    flavors = {f["slug"]: f for f in data["flavors"]}
    assert {"cpu", "t4"} <= set(flavors) and not {"a100", "fpga-u55c"} & set(flavors)
    assert flavors["t4"]["accelerator"] == {"resource": "nvidia.com/gpu", "count": 1}
    # Only the Leonardo site offers GPUs: Automatic says so, and why the other is skipped.
    assert data["automatic"]["site"] == GPU_SITE
    assert data["automatic"]["reason"].startswith("chosen: offers nvidia.com/gpu")
    assert f"{CPU_SITE} (no 1 nvidia.com/gpu)" in data["automatic"]["reason"]
    refused = server.offload("GET", "sites", params={"flavor": "a100"})
    assert (refused.status_code, refused.json()["message"]) == (
        403,
        "NVIDIA A100 80GB (full GPU) is only for members of ml-experts.",
    )

    server.put_notebook("again.ipynb", cell("print('once more')", "c"))
    first = server.offload("POST", "jobs", json={"path": "again.ipynb", "flavor": "cpu"}).json()
    assert server.wait_final(first["id"])["state"] == "succeeded"
    rerun = server.offload("POST", f"jobs/{first['id']}/rerun")
    assert rerun.status_code == 201, rerun.text
    again = rerun.json()
    assert again["id"] != first["id"] and again["site"] == first["site"]
    assert server.wait_final(again["id"])["state"] == "succeeded"


# -- JupyterLab ---------------------------------------------------------------------------


def open_lab(browser: Browser, platform: Platform, path: str) -> Page:
    """bob's JupyterLab, logged in through the hub's form, with ``path`` open."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{platform.hub.url}/hub/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(re.compile(r".*/(hub/(spawn|home)|user/.*)"))
    page.goto(f"{platform.hub.url}/user/{USER}/lab/tree/{path}?reset")
    expect(page.locator(".jp-NotebookPanel .jp-Cell").first).to_be_visible(timeout=60_000)
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=60_000
    )
    no_news = page.get_by_role("button", name="No", exact=True)
    if no_news.count():
        no_news.first.click()
    return page


def dialog(page: Page, title: str) -> Locator:
    found = page.locator(".jp-Dialog")
    expect(found.locator(".jp-Dialog-header")).to_have_text(title, timeout=30_000)
    return found


def submit(page: Page, box: Locator) -> str:
    """Press Submit; the new job's id, from the server's answer."""

    def is_post(response: Response) -> bool:
        path = urlparse(response.url).path
        return response.request.method == "POST" and path.endswith("/accelhub/api/offload/jobs")

    with page.expect_response(is_post) as answer:
        box.get_by_role("button", name="Submit").click()
    assert answer.value.status == 201, answer.value.text()
    return str(answer.value.json()["id"])


def job_item(page: Page, job_id: str) -> Locator:
    return page.locator(f"#accelhub-offload-jobs li.accelhub-Job[data-job-id='{job_id}']")


def show_jobs(page: Page) -> None:
    palette(page, "Show remote jobs")
    expect(page.locator("#accelhub-offload-jobs")).to_be_visible()


def palette(page: Page, label: str) -> None:
    """Run a command from the command palette (opened again if the page takes focus away)."""
    search = page.locator(".lm-CommandPalette-input")
    for _ in range(3):
        if not search.is_visible():
            page.keyboard.press("Control+Shift+C")
        try:
            search.fill(label, timeout=5_000)
            page.locator(".lm-CommandPalette-item", has_text=label).first.click(timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the command palette did not run {label!r}")


def widen_sidebar(page: Page, width: int) -> None:
    """Drag the left sidebar's edge until it is ``width`` pixels wide (for screenshots)."""
    panel = page.locator("#jp-left-stack").bounding_box()
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first.bounding_box()
    assert panel is not None and handle is not None
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(panel["x"] + width, y, steps=5)
    page.mouse.up()


def test_submit_a_whole_notebook_and_open_its_result(browser: Browser, platform: Platform) -> None:
    platform.server.put_notebook(
        "analysis.ipynb",
        cell("n = 1\nlabel = 'test'", "params", "parameters"),
        cell("print('n is', n, label)", "show"),
    )
    page = open_lab(browser, platform, "analysis.ipynb")
    page.get_by_role("button", name="Run on remote site").first.click()
    box = dialog(page, "Run on a remote site")
    site = box.get_by_label("Site")
    expect(site.locator("option").first).to_have_text("Automatic")
    expect(site.locator("option", has_text="Ready")).to_have_count(2)
    flavor = box.get_by_label("Flavor")
    expect(flavor.locator("option[value='a100']")).to_have_count(0)  # not bob's
    flavor.select_option("cpu")
    expect(box.locator(".accelhub-OffloadDialog-automatic")).to_contain_text("chosen: ")
    parameters = box.locator("fieldset", has=page.locator("legend", has_text="Parameters"))
    expect(parameters.get_by_label("n", exact=True)).to_have_value("1")
    expect(parameters.get_by_label("label", exact=True)).to_have_value("'test'")
    parameters.get_by_label("n", exact=True).fill("7")
    box.screenshot(path=str(DOCS_IMAGES / "offload-dialog.png"))
    job_id = submit(page, box)

    show_jobs(page)
    item = job_item(page, job_id)
    expect(item).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT)
    job = platform.server.offload("GET", f"jobs/{job_id}").json()
    result = f"analysis.remote-{job['site']}-{job_id}.ipynb"
    current = page.locator(".lm-DockPanel .lm-TabBar-tab.jp-mod-current")
    page.locator(".lm-DockPanel .lm-TabBar-tab", has_text=re.compile(r"^analysis\.ipynb$")).click()
    expect(current).to_have_text("analysis.ipynb")
    item.get_by_role("button", name="Open result").click()
    expect(current).to_have_text(result, timeout=30_000)
    expect(
        page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output", has_text="n is 7 test")
    ).to_be_visible(timeout=30_000)
    assert platform.server.notebook(result) is not None


def test_one_cell_runs_remotely_and_its_outputs_land_in_it(
    browser: Browser, platform: Platform
) -> None:
    platform.server.put_notebook(
        "cells.ipynb",
        cell("base = 40", "setup1", "setup"),
        cell("raise RuntimeError('not a setup cell')", "other"),
        cell("print('answer', base + 2)", "target"),
    )
    page = open_lab(browser, platform, "cells.ipynb")
    target = page.locator(".jp-NotebookPanel .jp-Cell").nth(2)
    target.locator(".jp-InputPrompt").click(button="right")
    page.get_by_role("menuitem", name="Run cell on remote site…").click()
    box = dialog(page, "Run cell on a remote site")
    setup = box.get_by_label("Setup cells")
    expect(setup.locator("option")).to_have_text(["Cells tagged setup", "Every code cell above"])
    setup.select_option("tagged")
    box.get_by_label("Flavor").select_option("cpu")
    job_id = submit(page, box)

    expect(target.locator(".accelhub-CellRemote")).to_contain_text("Running on ")
    expect(target.locator(".jp-OutputArea-output")).to_have_text(
        re.compile("answer 42"), timeout=JOB_TIMEOUT
    )
    site = platform.server.offload("GET", f"jobs/{job_id}").json()["site"]
    expect(target.locator(".accelhub-CellBadge")).to_have_text(f"{site} · job {job_id}")
    expect(page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(1)
    saved = platform.server.notebook("cells.ipynb")
    assert saved is not None and not saved["cells"][2]["outputs"]  # nothing saved behind bob
    page.locator(".jp-NotebookPanel:visible").screenshot(path=str(DOCS_IMAGES / "offload-cell.png"))


def test_progress_and_logs_arrive_while_it_runs(browser: Browser, platform: Platform) -> None:
    source = "import time\nprint('step {}', flush=True)\ntime.sleep(2)"
    steps = [cell(source.format(i), f"s{i}") for i in range(1, 5)]
    platform.server.put_notebook("steps.ipynb", *steps)
    page = open_lab(browser, platform, "steps.ipynb")
    palette(page, "Run on remote site…")
    box = dialog(page, "Run on a remote site")
    box.get_by_label("Flavor").select_option("cpu")
    job_id = submit(page, box)
    show_jobs(page)

    item = job_item(page, job_id)
    bar = item.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuemax", "4", timeout=JOB_TIMEOUT)
    expect(bar).to_contain_text("cell 3 of 4", timeout=JOB_TIMEOUT)
    expect(item).to_have_attribute("data-state", "running")  # still running: it came live
    log = item.locator("pre.accelhub-Job-log")
    expect(log).to_contain_text("step 2")
    widen_sidebar(page, 480)
    log.evaluate("node => { node.scrollTop = node.scrollHeight; }")
    panel = page.locator("#accelhub-offload-jobs").bounding_box()
    job = item.bounding_box()
    assert panel is not None and job is not None
    bottom = job["y"] + job["height"] + 8 - panel["y"]
    page.screenshot(
        path=str(DOCS_IMAGES / "offload-jobs-panel.png"), clip={**panel, "height": bottom}
    )
    expect(item).to_have_attribute("data-state", "succeeded", timeout=JOB_TIMEOUT)
    expect(log).to_contain_text("step 4")
    text = log.inner_text()
    assert [text.count(f"step {i}") for i in range(1, 5)] == [1, 1, 1, 1], text


def test_cancel_stops_the_job(browser: Browser, platform: Platform) -> None:
    platform.server.put_notebook("slow.ipynb", cell("import time\ntime.sleep(300)", "slow"))
    page = open_lab(browser, platform, "slow.ipynb")
    page.get_by_role("button", name="Run on remote site").first.click()
    box = dialog(page, "Run on a remote site")
    box.get_by_label("Flavor").select_option("cpu")
    job_id = submit(page, box)
    show_jobs(page)
    item = job_item(page, job_id)
    expect(item).to_have_attribute("data-state", "running", timeout=JOB_TIMEOUT)
    item.get_by_role("button", name="Cancel").click()
    expect(item).to_have_attribute("data-state", "cancelled", timeout=30_000)
    assert platform.server.offload("GET", f"jobs/{job_id}").json()["state"] == "cancelled"


def rejected_job(browser: Browser, platform: Platform) -> tuple[Page, Locator]:
    """A job sent to the CPU site while it answers every submission like SLURM refusing it."""
    platform.server.put_notebook("rejected.ipynb", cell("print(1)", "one"))
    page = open_lab(browser, platform, "rejected.ipynb")
    site_faults(platform.devstack, CPU_SITE, failCreate="Invalid qos specification")
    try:
        page.get_by_role("button", name="Run on remote site").first.click()
        box = dialog(page, "Run on a remote site")
        box.get_by_label("Flavor").select_option("cpu")
        box.get_by_label("Site").select_option(CPU_SITE)
        job_id = submit(page, box)
        show_jobs(page)
        item = job_item(page, job_id)
        expect(item).to_have_attribute("data-state", "failed", timeout=JOB_TIMEOUT)
    finally:
        site_faults(platform.devstack, CPU_SITE, failCreate=None)
    return page, item


REJECTION = SBATCH + "Invalid qos specification"


def test_a_site_that_rejects_the_job_shows_its_words(browser: Browser, platform: Platform) -> None:
    page, item = rejected_job(browser, platform)
    expect(item.locator(".accelhub-Job-message")).to_have_text(REJECTION)
    toast = page.locator(".Toastify__toast", has_text=SBATCH).last
    expect(toast).to_contain_text(CPU_SITE)
    expect(toast.get_by_role("button", name="Show job")).to_be_visible()


def test_the_failure_notification_holds_the_sites_whole_sentence(
    browser: Browser, platform: Platform
) -> None:
    page, _ = rejected_job(browser, platform)
    expect(page.locator(".Toastify__toast", has_text=REJECTION).last).to_be_visible()


def luminance(rgb: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# The first opaque background behind an element, and its own text colour.
COLOURS = """node => {
  let at = node;
  let background = 'rgba(0, 0, 0, 0)';
  while (at) {
    const colour = getComputedStyle(at).backgroundColor;
    if (!colour.startsWith('rgba(0, 0, 0, 0)') && colour !== 'transparent') {
      background = colour;
      break;
    }
    at = at.parentElement;
  }
  return [getComputedStyle(node).color, background];
}"""


def test_the_jobs_panel_is_legible_in_the_dark_theme(
    browser: Browser, platform: Platform, artifacts_dir: Path
) -> None:
    page = open_lab(browser, platform, "steps.ipynb")
    palette(page, "Use Theme: JupyterLab Dark")
    expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1, timeout=30_000)
    try:
        show_jobs(page)
        panel = page.locator("#accelhub-offload-jobs")
        expect(panel.locator("li.accelhub-Job").first).to_be_visible(timeout=30_000)
        checked = [
            panel.locator("li.accelhub-Job").first,
            panel.locator(".accelhub-Job-message").first,
            panel.locator("pre.accelhub-Job-log").first,
        ]
        for element in checked:
            foreground, background = element.evaluate(COLOURS)
            assert luminance(background) < 0.2, (element, background)  # the dark background
            assert contrast(foreground, background) >= 4.5, (element, foreground, background)
        panel.screenshot(path=str(artifacts_dir / "offload-jobs-panel-dark.png"))
    finally:
        palette(page, "Use Theme: JupyterLab Light")

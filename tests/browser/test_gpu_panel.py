"""The GPU panel and status-bar item, on simulated GPUs and on a server with none."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from devstack.nvml import default_simulation, nvml_env, write_simfile
from tests.conftest import LabServer, launch_lab

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gpu_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, dict[str, str]]]:
    """JupyterLab on a 'container' that was given one MIG slice and one T4."""
    state = tmp_path_factory.mktemp("nvml-state")
    simulation = default_simulation()
    a100, t4, _rtx = simulation.gpus
    assert a100.mig
    mig = a100.mig[2]  # a 1g.10gb slice
    env = nvml_env(state)
    write_simfile(simulation, Path(env["ACCELHUB_NVML_SIM_FILE"]))
    env["NVIDIA_VISIBLE_DEVICES"] = f"{mig.uuid},{t4.uuid}"
    server = launch_lab(
        tmp_path_factory.mktemp("gpu-lab-root"), tmp_path_factory.mktemp("gpu-lab-rt"), env
    )
    yield server, {"mig": mig.uuid, "t4": t4.uuid, "a100": a100.uuid}
    server.process.stop()


def test_panel_charts_update_for_a_mig_slice_and_a_t4(
    page: Page, gpu_lab: tuple[LabServer, dict[str, str]], artifacts_dir: Path
) -> None:
    server, uuids = gpu_lab
    page.goto(f"{server.url}lab?token={server.token}")
    status = page.locator(".accelhub-GpuStatus")
    expect(status).to_have_text(re.compile(r"^GPU \d+% · [\d.]+/[\d.]+ GB$"), timeout=60_000)

    status.click()
    panel = page.locator("#accelhub-gpu-panel")
    expect(panel).to_be_visible()
    t4_card = panel.locator(f'.accelhub-GpuCard[data-uuid="{uuids["t4"]}"]')
    mig_card = panel.locator(f'.accelhub-GpuCard[data-uuid="{uuids["mig"]}"]')
    expect(t4_card).to_be_visible(timeout=30_000)
    expect(mig_card).to_be_visible()
    expect(t4_card.locator("header")).to_contain_text("Tesla T4")
    expect(mig_card.locator("header")).to_contain_text("MIG 1g.10gb")
    # A MIG slice has no utilisation counter: shown as n/a, never 0%, and charted
    # for memory only.
    # the GPU's energy since the server started, from its power readings
    expect(t4_card.locator('[data-metric="energy"]')).to_have_text(re.compile(r"^energy \d+ Wh$"))
    expect(mig_card.locator('[data-metric="energy"]')).to_have_count(0)
    expect(mig_card.locator('[data-metric="util"]')).to_have_text("util n/a")
    expect(mig_card.locator(".accelhub-GpuChart")).to_have_count(1)
    expect(mig_card.locator('.accelhub-GpuChart[data-metric="memory_used_bytes"]')).to_be_visible()
    # The container sees its slice's parent A100 (in MIG mode) but no other slice of it.
    expect(panel.locator(f'.accelhub-GpuCard[data-uuid="{uuids["a100"]}"]')).to_have_count(1)
    expect(panel.locator('.accelhub-GpuCard[data-kind="mig"]')).to_have_count(1)

    # The charts draw the samples as they arrive: the time axis grows.
    chart = t4_card.locator('.accelhub-GpuChart[data-metric="utilization_gpu"] canvas')
    expect(chart).to_be_visible()
    first = chart.screenshot()
    page.wait_for_timeout(3500)
    assert chart.screenshot() != first, "the utilisation chart did not change over 3.5 s"
    dismiss = page.get_by_role("button", name="No", exact=True)
    if dismiss.count():
        dismiss.first.click()
    page.screenshot(path=str(artifacts_dir / "gpu-panel.png"))


def test_server_without_gpu_says_so(page: Page, lab_server: LabServer) -> None:
    page.goto(f"{lab_server.url}lab?token={lab_server.token}")
    status = page.locator(".accelhub-GpuStatus")
    expect(status).to_have_text("No GPU", timeout=60_000)
    status.click()
    expect(page.locator(".accelhub-GpuPanel-unavailable")).to_contain_text("No GPU")

"""JupyterLab loads the accelhub labextension and it reaches the server extension."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hub_ext import __version__
from tests.conftest import LabServer

pytestmark = pytest.mark.browser


def test_extension_activates_and_reaches_its_api(
    page: Page, lab_server: LabServer, artifacts_dir: Path
) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    health_answers: list[int] = []
    page.on(
        "response",
        lambda response: (
            health_answers.append(response.status)
            if "/accelhub/api/health" in response.url
            else None
        ),
    )

    page.goto(f"{lab_server.url}lab?token={lab_server.token}")
    status_item = page.locator(".accelhub-HealthStatus")
    expect(status_item).to_have_attribute("data-state", "ok", timeout=60_000)
    expect(status_item).to_contain_text(f"accelhub {__version__}")
    # the status bar shows what matters to a researcher, not accelhub's version
    expect(status_item).to_be_hidden()
    expect(page.locator("#jp-bottom-panel")).not_to_contain_text(
        f"accelhub {__version__}", use_inner_text=True
    )
    expect(page.locator(".accelhub-GpuStatus")).to_have_text("No GPU")

    assert health_answers and health_answers[-1] == 200
    assert "accelhub labextension activated" in console
    assert any(line.startswith("accelhub server extension reached") for line in console)
    page.screenshot(path=str(artifacts_dir / "lab-extension-status.png"))

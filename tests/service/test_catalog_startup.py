"""The real service process refuses to start on a missing or bad catalog, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub_ext.catalog import AI_INFN_CATALOG
from tests.conftest import subprocess_env


def run_service(tmp_path: Path, catalog_line: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "accelhub_service_config.py"
    config.write_text(
        catalog_line + f"c.AccelhubService.db_url = 'sqlite:///{tmp_path / 'db.sqlite'}'\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "hub_ext.service", f"--config={config}"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        (None, "AcceleratorCatalog.catalog_file: no catalog is configured"),
        ("missing.yaml", "AcceleratorCatalog.catalog_file: cannot read"),
        ("- slug: cpu\n- {slug: t4, kind: gpuu}\n", "catalog.yaml[1].kind: 'gpuu' is not one of"),
    ],
)
def test_service_refuses_to_start_naming_the_key(
    tmp_path: Path, catalog: str | None, message: str
) -> None:
    line = ""
    if catalog == "missing.yaml":
        line = f"c.AcceleratorCatalog.catalog_file = {str(tmp_path / catalog)!r}\n"
    elif catalog is not None:
        (tmp_path / "catalog.yaml").write_text(catalog)
        line = f"c.AcceleratorCatalog.catalog_file = {str(tmp_path / 'catalog.yaml')!r}\n"
    result = run_service(tmp_path, line)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("accelhub: invalid accelerator catalog:") and message in lines[0]
    assert not (tmp_path / "db.sqlite").exists()  # stopped before touching the store


def test_service_with_the_shipped_catalog_gets_past_the_check(tmp_path: Path) -> None:
    config = tmp_path / "accelhub_service_config.py"
    config.write_text(f"c.AcceleratorCatalog.catalog_file = {AI_INFN_CATALOG!r}\n")
    code = (
        "from hub_ext.service.app import AccelhubService\n"
        f"app = AccelhubService(); app.initialize(['--config={config}'])\n"
        "print(app.catalog.slugs())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "'mig-1g-10gb'" in result.stdout

"""Fixtures for the telemetry and simulated-NVML tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.nvml.build import build_library
from devstack.nvml.simfile import Simulation, default_simulation, write_simfile


@pytest.fixture(scope="session")
def nvml_lib_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of a freshly built simulated ``libnvidia-ml.so.1``."""
    return build_library(tmp_path_factory.mktemp("nvml-cache")).parent


@pytest.fixture
def sim() -> Simulation:
    """The default devstack node: A100 80GB (MIG), T4, Quadro RTX 5000."""
    return default_simulation("test-node")


@pytest.fixture
def sim_file(tmp_path: Path, sim: Simulation) -> Path:
    """``sim`` written to a file in ``tmp_path`` (tests may rewrite it)."""
    return write_simfile(sim, tmp_path / "nvml-sim.txt")

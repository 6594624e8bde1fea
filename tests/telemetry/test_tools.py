"""Fidelity: unmodified gpustat and nvitop read the simulated devices."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.nvml.simfile import Simulation
from tests.telemetry.simenv import sim_env


def _tool(name: str) -> str:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed (pip install {name})")
    path = shutil.which(name, path=str(Path(sys.executable).parent))
    assert path is not None
    return path


def test_gpustat_json(nvml_lib_dir: Path, sim_file: Path, sim: Simulation) -> None:
    out = subprocess.run(
        [_tool("gpustat"), "--json"],
        env=sim_env(nvml_lib_dir, sim_file),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["driver_version"] == "580.82.07-devstack-sim"
    gpus = report["gpus"]
    assert [g["uuid"] for g in gpus] == [g.uuid for g in sim.gpus]
    assert [g["name"] for g in gpus] == ["NVIDIA A100 80GB PCIe", "Tesla T4", "Quadro RTX 5000"]
    assert gpus[0]["utilization.gpu"] is None  # MIG mode
    assert gpus[1]["fan.speed"] is None and gpus[2]["fan.speed"] is not None
    assert gpus[1]["memory.total"] == 15360


def test_nvitop_once(nvml_lib_dir: Path, sim_file: Path, sim: Simulation) -> None:
    assert sim.gpus[0].mig is not None
    visible = f"{sim.gpus[1].uuid},{sim.gpus[0].mig[2].uuid}"
    out = subprocess.run(
        [_tool("nvitop"), "--once", "--no-unicode"],
        env=sim_env(nvml_lib_dir, sim_file, visible=visible, COLUMNS="120"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = out.stdout
    assert "580.82.07-devstack-sim" in text and "Tesla T4" in text
    assert "1g.10gb" in text and "2g.20gb" not in text  # only the visible MIG device
    assert "Quadro" not in text and "Traceback" not in out.stderr

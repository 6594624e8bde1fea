"""Building the simulated library, and the environment devstack hands to NVML clients."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.nvml import gpu_pod_env
from devstack.nvml.build import LIBRARY_NAME, BuildError, build_library
from devstack.nvml.cli import add_nvml_env_arguments, nvml_env_main
from devstack.nvml.simfile import SIM_FILE_ENV, default_simulation, simulation_for
from tests.telemetry.simenv import REPO_ROOT


def test_builds_once_then_reuses(tmp_path: Path) -> None:
    library = build_library(tmp_path)
    assert library == tmp_path / LIBRARY_NAME and library.is_file()
    stamp = library.stat().st_mtime_ns
    assert build_library(tmp_path) == library
    assert library.stat().st_mtime_ns == stamp  # up to date: not rebuilt
    os.utime(library, ns=(1, 1))  # older than its sources
    build_library(tmp_path)
    assert library.stat().st_mtime_ns > 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    exported = subprocess.run(
        ["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True, check=True
    ).stdout
    symbols = {line.split()[-1] for line in exported.splitlines()}
    assert {
        "nvmlInit_v2",
        "nvmlInitWithFlags",
        "nvmlDeviceGetComputeRunningProcesses_v3",
    } <= symbols
    assert all(s.startswith("nvml") for s in symbols if not s.startswith("_"))


def test_missing_compiler_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", "no-such-compiler")
    with pytest.raises(BuildError, match="No C compiler"):
        build_library(tmp_path)


def test_gpu_pod_env(tmp_path: Path, nvml_lib_dir: Path) -> None:
    sim = default_simulation("devstack")
    assert sim.gpus[0].mig is not None
    mig = sim.gpus[0].mig[0].uuid
    env = gpu_pod_env(tmp_path / "state", [mig], cache_dir=nvml_lib_dir)
    assert env["LD_LIBRARY_PATH"] == str(nvml_lib_dir)
    assert Path(env[SIM_FILE_ENV]).is_file() and env["NVIDIA_VISIBLE_DEVICES"] == mig
    assert (
        gpu_pod_env(tmp_path / "state", [], cache_dir=nvml_lib_dir)["NVIDIA_VISIBLE_DEVICES"]
        == "none"
    )
    assert "NVIDIA_VISIBLE_DEVICES" not in gpu_pod_env(tmp_path / "state", cache_dir=nvml_lib_dir)
    resources = sim.resources()
    assert resources["nvidia.com/gpu"] == [sim.gpus[1].uuid, sim.gpus[2].uuid]
    assert resources["nvidia.com/mig-1g.10gb"] == [m.uuid for m in sim.gpus[0].mig[2:]]


def test_nvml_env_command_prints_exports(
    tmp_path: Path, nvml_lib_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_nvml_env_arguments(parser)
    args = parser.parse_args(
        ["--state-dir", str(tmp_path), "--cache-dir", str(nvml_lib_dir), "--visible-devices", "1"]
    )
    assert nvml_env_main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"export LD_LIBRARY_PATH={nvml_lib_dir}")
    assert f"export {SIM_FILE_ENV}={tmp_path}/nvml/nvml-sim.txt" in lines
    assert "export NVIDIA_VISIBLE_DEVICES=1" in lines
    # The printed lines work in a shell: an NVML client then sees one simulated T4.
    script = (
        "\n".join(lines) + f"\n{sys.executable} -c 'import pynvml as N; N.nvmlInit(); "
        "print(N.nvmlDeviceGetName(N.nvmlDeviceGetHandleByIndex(0)))'"
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "Tesla T4", out.stderr


def test_simulation_for_a_cluster_keeps_its_uuids(nvml_lib_dir: Path, tmp_path: Path) -> None:
    from devstack.cluster import Gpu, MigDevice

    gpus = [
        Gpu(
            "a100-80gb-pcie",
            "GPU-a28fefa7-8216-2e85-70dd-2e9eb0f2f31b",
            [MigDevice("1g.10gb", "MIG-9166545d-221b-49f6-aeab-728b23b70715")],
        ),
        Gpu("t4", "GPU-d5a5faa3-e2e5-ca70-beba-040e62133ec4"),
    ]
    sim = simulation_for(gpus, "a100-1")
    assert [g.uuid for g in sim.gpus] == [g.uuid for g in gpus]
    assert sim.gpus[0].mig is not None and sim.gpus[1].mig is None
    assert sim.resources() == {
        "nvidia.com/mig-1g.10gb": ["MIG-9166545d-221b-49f6-aeab-728b23b70715"],
        "nvidia.com/gpu": ["GPU-d5a5faa3-e2e5-ca70-beba-040e62133ec4"],
    }

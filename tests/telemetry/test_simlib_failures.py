"""Failure injection through the simulation file, and the reader's robustness."""

from __future__ import annotations

import time
from pathlib import Path

from devstack.nvml.simfile import Simulation, lose_gpu_after, write_simfile
from tests.telemetry.simenv import run_probe, sim_env

INIT = """
try:
    N.nvmlInit()
    result = 0
except N.NVMLError as error:
    result = error.value
"""


def test_driver_not_loaded(nvml_lib_dir: Path, tmp_path: Path, sim: Simulation) -> None:
    sim.fail = "driver_not_loaded"
    sim_file = write_simfile(sim, tmp_path / "sim.txt")
    assert run_probe(INIT, sim_env(nvml_lib_dir, sim_file)) == 9


def test_global_unknown_error(nvml_lib_dir: Path, tmp_path: Path, sim: Simulation) -> None:
    sim.fail = "unknown_error"
    sim_file = write_simfile(sim, tmp_path / "sim.txt")
    assert run_probe(INIT, sim_env(nvml_lib_dir, sim_file)) == 999


def test_missing_or_garbled_file(nvml_lib_dir: Path, tmp_path: Path) -> None:
    assert run_probe(INIT, sim_env(nvml_lib_dir, tmp_path / "absent.txt")) == 9
    assert run_probe(INIT, sim_env(nvml_lib_dir, None)) == 9
    garbled = tmp_path / "garbled.txt"
    garbled.write_text("this is not a simulation file\n")
    assert run_probe(INIT, sim_env(nvml_lib_dir, garbled)) == 999


def test_gpu_lost_now_and_later(nvml_lib_dir: Path, tmp_path: Path, sim: Simulation) -> None:
    sim.gpus[1].fail = "gpu_lost"
    lose_gpu_after(sim.gpus[2], 1.0)
    sim_file = write_simfile(sim, tmp_path / "sim.txt")
    result = run_probe(
        """
        N.nvmlInit()
        rtx = N.nvmlDeviceGetHandleByIndex(2)
        before = N.nvmlDeviceGetName(rtx)
        out = {"count": N.nvmlDeviceGetCount(), "t4": code(N.nvmlDeviceGetHandleByIndex, 1),
               "a100": code(N.nvmlDeviceGetHandleByIndex, 0), "before": before}
        time.sleep(1.2)
        out["after"] = code(N.nvmlDeviceGetName, rtx)
        out["after_util"] = code(N.nvmlDeviceGetUtilizationRates, rtx)
        result = out
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert result["count"] == 3 and result["a100"] == 0
    assert result["t4"] == 15  # NVML_ERROR_GPU_IS_LOST
    assert result["before"] == "Quadro RTX 5000"
    assert result["after"] == 15 and result["after_util"] == 15


def test_device_unknown_error(nvml_lib_dir: Path, tmp_path: Path, sim: Simulation) -> None:
    sim.gpus[1].fail = "unknown_error"
    sim_file = write_simfile(sim, tmp_path / "sim.txt")
    result = run_probe(
        """
        N.nvmlInit()
        t4 = N.nvmlDeviceGetHandleByIndex(1)
        result = [code(N.nvmlDeviceGetTemperature, t4, 0), code(N.nvmlDeviceGetUUID, t4)]
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert result == [999, 999]


def test_file_changes_are_picked_up_while_initialised(
    nvml_lib_dir: Path, tmp_path: Path, sim: Simulation
) -> None:
    sim_file = write_simfile(sim, tmp_path / "sim.txt")
    result = run_probe(
        f"""
        from pathlib import Path
        from devstack.nvml.simfile import default_simulation, write_simfile
        N.nvmlInit()
        before = N.nvmlDeviceGetCount()
        smaller = default_simulation("test-node")
        smaller.gpus = smaller.gpus[1:]
        write_simfile(smaller, Path({str(sim_file)!r}))
        time.sleep(0.7)
        result = [before, N.nvmlDeviceGetCount()]
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert result == [3, 2]


def test_random_files_never_crash_the_library(nvml_lib_dir: Path, tmp_path: Path) -> None:
    sim_file = tmp_path / "fuzz.txt"
    sim_file.write_text("format\tversion=1\n")
    started = time.monotonic()
    result = run_probe(
        f"""
        import os, random
        from pathlib import Path
        from devstack.nvml.simfile import default_simulation, render
        rng = random.Random(1234)
        good = render(default_simulation("fuzz")).splitlines()
        path = Path({str(sim_file)!r})
        codes = set()
        for i in range(300):
            lines = list(good)
            for _ in range(rng.randint(1, 6)):
                k = rng.randrange(len(lines))
                line = lines[k]
                cut = rng.randrange(len(line) + 1)
                alphabet = "=\\t0x-9aZ%\\x00\\xff"
                noise = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
                lines[k] = line[:cut] + noise + line[cut:] * rng.randint(0, 30)
            if rng.random() < 0.2:
                lines.insert(rng.randrange(len(lines)), "gpu\\t" + "k=" + "v" * 5000)
            path.write_bytes("\\n".join(lines).encode("utf-8", "surrogateescape"))
            os.utime(path, ns=(i * 1000, i * 1000))
            try:
                N.nvmlInit()
            except N.NVMLError as error:
                codes.add(error.value)
                continue
            for d in range(N.nvmlDeviceGetCount()):
                try:
                    h = N.nvmlDeviceGetHandleByIndex(d)
                    N.nvmlDeviceGetName(h); N.nvmlDeviceGetMemoryInfo(h)
                    N.nvmlDeviceGetComputeRunningProcesses(h)
                except N.NVMLError as error:
                    codes.add(error.value)
            N.nvmlShutdown()
            codes.add(0)
        result = sorted(codes)
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert 0 in result
    assert set(result) <= {0, 2, 3, 9, 15, 999}
    assert time.monotonic() - started < 60

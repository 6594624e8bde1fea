"""``NVIDIA_VISIBLE_DEVICES`` filters the simulated devices as the container runtime would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.nvml.simfile import Simulation
from tests.telemetry.simenv import run_probe, sim_env

LIST_DEVICES = """
try:
    N.nvmlInit()
except N.NVMLError as error:
    result = {"init": error.value}
else:
    devices = []
    for i in range(N.nvmlDeviceGetCount()):
        h = N.nvmlDeviceGetHandleByIndex(i)
        migs = []
        if code(N.nvmlDeviceGetMigMode, h) == 0 and N.nvmlDeviceGetMigMode(h)[0] == 1:
            for j in range(N.nvmlDeviceGetMaxMigDeviceCount(h)):
                try:
                    m = N.nvmlDeviceGetMigDeviceHandleByIndex(h, j)
                except N.NVMLError:
                    continue
                migs.append(N.nvmlDeviceGetUUID(m))
        devices.append([N.nvmlDeviceGetIndex(h), N.nvmlDeviceGetUUID(h), migs])
    result = {"init": 0, "devices": devices}
"""

Case = Callable[[Simulation], tuple[str, list[tuple[int, list[int]]]]]


def _migs(sim: Simulation) -> list[str]:
    assert sim.gpus[0].mig is not None
    return [m.uuid for m in sim.gpus[0].mig]


# Each case: the env value, and the expected (host GPU index, [MIG positions]) list.
CASES: dict[str, Case] = {
    "all": lambda sim: ("all", [(0, [0, 1, 2, 3]), (1, []), (2, [])]),
    "indices": lambda sim: ("2,1", [(1, []), (2, [])]),
    "gpu-uuid": lambda sim: (sim.gpus[2].uuid, [(2, [])]),
    "mig-uuid": lambda sim: (_migs(sim)[3], [(0, [3])]),
    "two-mig-uuids": lambda sim: (f"{_migs(sim)[0]}, {_migs(sim)[2]}", [(0, [0, 2])]),
    "mig-index": lambda sim: ("0:1", [(0, [1])]),
    "mixed": lambda sim: (f"{sim.gpus[1].uuid},{_migs(sim)[1]}", [(0, [1]), (1, [])]),
    "none": lambda sim: ("none", []),
    "unknown-id": lambda sim: ("GPU-not-a-device", []),
}


@pytest.mark.parametrize("case", list(CASES))
def test_visible_devices(nvml_lib_dir: Path, sim_file: Path, sim: Simulation, case: str) -> None:
    value, expected = CASES[case](sim)
    result = run_probe(LIST_DEVICES, sim_env(nvml_lib_dir, sim_file, visible=value))
    assert result["init"] == 0
    want = []
    for renumbered, (host, mig_positions) in enumerate(expected):
        gpu = sim.gpus[host]
        migs = [gpu.mig[j].uuid for j in mig_positions] if gpu.mig else []
        want.append([renumbered, gpu.uuid, migs])
    assert result["devices"] == want


@pytest.mark.parametrize("value", ["void", ""])
def test_void_or_empty_means_no_driver_in_the_container(
    nvml_lib_dir: Path, sim_file: Path, value: str
) -> None:
    result = run_probe(LIST_DEVICES, sim_env(nvml_lib_dir, sim_file, visible=value))
    assert result == {"init": 9}  # NVML_ERROR_DRIVER_NOT_LOADED

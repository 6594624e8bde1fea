"""The sampler over real nvidia-ml-py and the simulated library: content and every status."""

from __future__ import annotations

import ctypes.util
import getpass
from pathlib import Path
from typing import Any

import pytest

from devstack.nvml.simfile import default_simulation
from tests.telemetry.simenv import run_probe, sim_env

SAMPLER = """
import asyncio, os
from pathlib import Path
from server_ext.telemetry.config import TelemetryConfig
from server_ext.telemetry.sampler import Sampler

def make_sampler():
    return Sampler(TelemetryConfig(interval=0.2, retry_initial=0.2, retry_max=0.4))
"""

ONE_SNAPSHOT = (
    SAMPLER
    + """
async def main():
    sampler = make_sampler()
    data = (await sampler.snapshot()).data
    await sampler.stop()
    return data
result = asyncio.run(main())
"""
)


SCENARIOS = (
    SAMPLER
    + """
from devstack.nvml.simfile import default_simulation, write_simfile, SimProcess
SIM_FILE = Path(os.environ["ACCELHUB_NVML_SIM_FILE"])

def write(**changes):
    sim = default_simulation("test-node")
    for change in changes.values():
        change(sim)
    write_simfile(sim, SIM_FILE)

async def snapshot_once():
    sampler = make_sampler()
    data = (await sampler.snapshot()).data
    await sampler.stop()
    return data

async def until_ok(sampler):
    for _ in range(40):
        await asyncio.sleep(0.1)
        data = (await sampler.snapshot()).data
        if data["status"] == "ok":
            break
    return data

def with_processes(sim):
    sim.gpus[1].processes = [SimProcess(os.getpid(), 1 << 30), SimProcess(1, 1 << 20)]
    sim.gpus[0].mig[1].processes = [SimProcess(os.getpid(), 2 << 30)]

def set_fail(kind):
    def change(sim):
        sim.fail = kind
    return change

def lose_rtx(sim):
    sim.gpus[2].fail = "gpu_lost"

async def main():
    out = {"pid": os.getpid()}
    write()
    out["content"] = await snapshot_once()
    write(p=with_processes)
    out["processes"] = await snapshot_once()
    write(f=set_fail("unknown_error"))
    out["unknown"] = await snapshot_once()
    for name, change in (("driver", set_fail("driver_not_loaded")), ("lost", lose_rtx)):
        write(f=change)
        sampler = make_sampler()
        first = (await sampler.snapshot()).data
        write()
        out[name] = {"first": first, "back": await until_ok(sampler)}
        await sampler.stop()
    return out

result = asyncio.run(main())
"""
)


@pytest.fixture(scope="module")
def scenarios(nvml_lib_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One interpreter walks through the file-driven scenarios (the library re-reads it)."""
    sim_file = tmp_path_factory.mktemp("scenarios") / "sim.txt"
    sim_file.write_text("")
    result: dict[str, Any] = run_probe(SCENARIOS, sim_env(nvml_lib_dir, sim_file))
    return result


def test_snapshot_content(scenarios: dict[str, Any]) -> None:
    data = scenarios["content"]
    sim = default_simulation("test-node")
    assert data["status"] == "ok" and "3 GPU" in data["message"]
    assert data["driver_version"].endswith("devstack-sim") and data["cuda_driver_version"] == "13.0"
    assert data["sampler"]["passes"] == 1
    a100, t4, rtx = data["devices"]
    assert [d["uuid"] for d in data["devices"]] == [g.uuid for g in sim.gpus]
    # MIG parent: no utilisation (NVML does not report it in MIG mode), no fan.
    assert a100["utilization_gpu"] is None and a100["fan_percent"] is None
    assert {"utilization_gpu", "utilization_memory", "fan_percent"} <= set(a100["unsupported"])
    assert a100["mig"]["enabled"] is True and a100["mig"]["pending_enabled"] is True
    migs = a100["mig"]["devices"]
    assert [m["profile"] for m in migs] == ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"]
    assert [m["gpu_instance_id"] for m in migs] == [1, 2, 3, 4]
    assert all(m["uuid"].startswith("MIG-") and m["memory_total_bytes"] > 0 for m in migs)
    assert a100["ecc_errors"] == {"corrected": 0, "uncorrected": 0}
    # T4: passive cooling, no MIG; utilisation is a number.
    assert t4["fan_percent"] is None and "fan_percent" in t4["unsupported"]
    assert t4["mig"] is None and "mig" in t4["unsupported"]
    assert 0 <= t4["utilization_gpu"] <= 100 and t4["temperature_c"] > 0
    assert t4["power_limit_w"] == 70.0 and 0 < t4["power_draw_w"] <= 70.0
    # RTX 5000: a fan, but ECC off so no error counters.
    assert 0 <= rtx["fan_percent"] <= 100
    assert rtx["ecc_errors"] is None and "ecc_errors" in rtx["unsupported"]
    for device in data["devices"]:
        assert device["status"] == "ok"
        for key in device["unsupported"]:
            assert device.get(key) is None  # unsupported is null, never zero


def test_processes_name_their_user_and_owner(scenarios: dict[str, Any]) -> None:
    pid, data = scenarios["pid"], scenarios["processes"]
    t4_procs = {p["pid"]: p for p in data["devices"][1]["processes"]}
    mine, init = t4_procs[pid], t4_procs[1]
    assert mine["own"] is True and mine["user"] == getpass.getuser()
    assert mine["used_memory_bytes"] == 1 << 30 and mine["type"] == "compute"
    assert mine["gpu_instance_id"] is None
    assert init["own"] is False
    mig = data["devices"][0]["mig"]["devices"][1]
    seen = [(p["pid"], p["own"], p["gpu_instance_id"]) for p in mig["processes"]]
    assert seen == [(pid, True, 2)]


def test_unknown_error(scenarios: dict[str, Any]) -> None:
    data = scenarios["unknown"]
    assert data["status"] == "error" and data["message"].startswith("NVML failed")
    assert data["devices"] == [] and data["sampler"]["retry_in"] > 0


def test_driver_comes_back(scenarios: dict[str, Any]) -> None:
    first, back = scenarios["driver"]["first"], scenarios["driver"]["back"]
    assert first["status"] == "no_driver"
    assert first["message"] == "The NVIDIA driver is not loaded on this machine."
    assert back["status"] == "ok" and len(back["devices"]) == 3


def test_gpu_lost_then_reset(scenarios: dict[str, Any]) -> None:
    lost, back = scenarios["lost"]["first"], scenarios["lost"]["back"]
    assert lost["status"] == "gpu_lost" and lost["message"].startswith("GPU 2:")
    assert [d["status"] for d in lost["devices"]] == ["ok", "ok", "gpu_lost"]
    assert lost["devices"][1]["utilization_gpu"] is not None  # the others keep reporting
    assert back["status"] == "ok"


@pytest.mark.skipif(
    ctypes.util.find_library("nvidia-ml") is not None,
    reason="a real libnvidia-ml is installed on this machine",
)
def test_no_library(sim_file: Path) -> None:
    body = (
        SAMPLER
        + """
async def main():
    sampler = Sampler(TelemetryConfig(interval=0.1, retry_initial=5))
    first = (await sampler.snapshot()).data
    await asyncio.sleep(0.5)
    started = time.monotonic()
    again = (await sampler.snapshot()).data  # while waiting to retry: at once, unchanged
    took = time.monotonic() - started
    await sampler.stop()
    return {"first": first, "again": again, "took": took}
result = asyncio.run(main())
"""
    )
    result = run_probe(body, sim_env(None, sim_file))
    data = result["first"]
    assert data["status"] == "no_library"
    assert "libnvidia-ml.so.1" in data["message"] and data["devices"] == []
    assert data["sampler"]["retry_in"] == 5
    assert result["again"] == data and result["took"] < 1


def test_no_devices(nvml_lib_dir: Path, sim_file: Path) -> None:
    data = run_probe(ONE_SNAPSHOT, sim_env(nvml_lib_dir, sim_file, visible="none"))
    assert data["status"] == "no_devices" and "NVIDIA_VISIBLE_DEVICES='none'" in data["message"]

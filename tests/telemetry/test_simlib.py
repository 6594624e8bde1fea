"""The unmodified nvidia-ml-py bindings read the simulated library as they would a driver."""

from __future__ import annotations

from pathlib import Path

from devstack.nvml.models import A100_80GB_MIG_PROFILES, MIB, MODELS
from devstack.nvml.simfile import SimProcess, Simulation, write_simfile
from tests.telemetry.simenv import run_probe, sim_env

# NVML return codes (nvml.h)
UNINITIALIZED, INVALID_ARGUMENT, NOT_SUPPORTED = 1, 2, 3
NOT_FOUND, INSUFFICIENT_SIZE, DRIVER_NOT_LOADED = 6, 7, 9
GPU_IS_LOST, ARGUMENT_VERSION_MISMATCH, UNKNOWN = 15, 25, 999


def test_enumeration_identity_and_memory(
    nvml_lib_dir: Path, sim_file: Path, sim: Simulation
) -> None:
    result = run_probe(
        """
        N.nvmlInit()
        out = {"driver": N.nvmlSystemGetDriverVersion(), "cuda": N.nvmlSystemGetCudaDriverVersion(),
               "nvml": N.nvmlSystemGetNVMLVersion(), "devices": []}
        for i in range(N.nvmlDeviceGetCount()):
            h = N.nvmlDeviceGetHandleByIndex(i)
            uuid = N.nvmlDeviceGetUUID(h)
            pci = N.nvmlDeviceGetPciInfo(h)
            m1 = N.nvmlDeviceGetMemoryInfo(h)
            m2 = N.nvmlDeviceGetMemoryInfo(h, version=N.nvmlMemory_v2)
            out["devices"].append({
                "name": N.nvmlDeviceGetName(h), "uuid": uuid, "bus": pci.busId,
                "index": N.nvmlDeviceGetIndex(h),
                "by_uuid": N.nvmlDeviceGetIndex(N.nvmlDeviceGetHandleByUUID(uuid)),
                "by_pci": N.nvmlDeviceGetIndex(N.nvmlDeviceGetHandleByPciBusId(pci.busId)),
                "v1": [m1.total, m1.used, m1.free], "v2": [m2.total, m2.reserved, m2.used, m2.free],
                "cc": list(N.nvmlDeviceGetCudaComputeCapability(h)),
            })
        N.nvmlShutdown()
        result = out
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert "devstack-sim" in result["driver"] and "devstack-sim" in result["nvml"]
    assert result["cuda"] == 13000
    devices = result["devices"]
    assert [d["name"] for d in devices] == [
        "NVIDIA A100 80GB PCIe",
        "Tesla T4",
        "Quadro RTX 5000",
    ]
    for i, (device, gpu) in enumerate(zip(devices, sim.gpus, strict=True)):
        assert device["uuid"] == gpu.uuid and device["uuid"].startswith("GPU-")
        assert device["bus"] == gpu.bus_id
        assert device["index"] == device["by_uuid"] == device["by_pci"] == i
        total, used, free = device["v1"]
        total2, reserved, used2, free2 = device["v2"]
        assert total == total2 == gpu.spec.memory_total
        assert total == used + free == reserved + used2 + free2  # (read at two instants)
        assert used >= reserved  # v1 counts the reserved part as used, v2 does not
        assert reserved == gpu.spec.memory_reserved
    assert devices[0]["cc"] == [8, 0] and devices[1]["cc"] == [7, 5]


def test_mig_devices(nvml_lib_dir: Path, sim_file: Path, sim: Simulation) -> None:
    result = run_probe(
        """
        N.nvmlInit()
        a100, t4 = N.nvmlDeviceGetHandleByIndex(0), N.nvmlDeviceGetHandleByIndex(1)
        out = {"mode": N.nvmlDeviceGetMigMode(a100), "max": N.nvmlDeviceGetMaxMigDeviceCount(a100),
               "t4_mode": code(N.nvmlDeviceGetMigMode, t4),
               "t4_max": N.nvmlDeviceGetMaxMigDeviceCount(t4),
               "t4_mig0": code(N.nvmlDeviceGetMigDeviceHandleByIndex, t4, 0),
               "parent_util": code(N.nvmlDeviceGetUtilizationRates, a100),
               "parent_temp": N.nvmlDeviceGetTemperature(a100, N.NVML_TEMPERATURE_GPU),
               "parent_gi": code(N.nvmlDeviceGetGpuInstanceId, a100),
               "parent_is_mig": num(N.nvmlDeviceIsMigDeviceHandle(a100)),
               "not_found": code(N.nvmlDeviceGetMigDeviceHandleByIndex, a100, 4),
               "out_of_range": code(N.nvmlDeviceGetMigDeviceHandleByIndex, a100, 7),
               "migs": []}
        for j in range(4):
            m = N.nvmlDeviceGetMigDeviceHandleByIndex(a100, j)
            attrs = N.nvmlDeviceGetAttributes(m)
            parent = N.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(m)
            uuid = N.nvmlDeviceGetUUID(m)
            out["migs"].append({
                "uuid": uuid, "name": N.nvmlDeviceGetName(m),
                "is_mig": num(N.nvmlDeviceIsMigDeviceHandle(m)),
                "gi": N.nvmlDeviceGetGpuInstanceId(m), "ci": N.nvmlDeviceGetComputeInstanceId(m),
                "total": N.nvmlDeviceGetMemoryInfo(m).total, "slices": attrs.gpuInstanceSliceCount,
                "sm": attrs.multiprocessorCount, "index": N.nvmlDeviceGetIndex(m),
                "parent": N.nvmlDeviceGetUUID(parent),
                "by_uuid_is_mig": num(
                    N.nvmlDeviceIsMigDeviceHandle(N.nvmlDeviceGetHandleByUUID(uuid))),
                "unsupported": [code(N.nvmlDeviceGetUtilizationRates, m),
                                code(N.nvmlDeviceGetTemperature, m, N.NVML_TEMPERATURE_GPU),
                                code(N.nvmlDeviceGetFanSpeed, m),
                                code(N.nvmlDeviceGetPowerUsage, m)],
                "parent_of_gpu": code(N.nvmlDeviceGetDeviceHandleFromMigDeviceHandle, a100),
            })
        result = out
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert result["mode"] == [1, 1] and result["max"] == 7
    assert result["t4_mode"] == NOT_SUPPORTED and result["t4_max"] == 0
    assert result["t4_mig0"] == NOT_SUPPORTED
    assert result["parent_util"] == NOT_SUPPORTED  # utilisation is not reported in MIG mode
    assert result["parent_temp"] > 0
    assert result["parent_gi"] == INVALID_ARGUMENT and result["parent_is_mig"] == 0
    assert result["not_found"] == NOT_FOUND and result["out_of_range"] == INVALID_ARGUMENT
    a100 = sim.gpus[0]
    assert a100.mig is not None
    for j, (got, want) in enumerate(zip(result["migs"], a100.mig, strict=True)):
        profile = A100_80GB_MIG_PROFILES[want.profile]
        assert got["uuid"] == want.uuid and got["uuid"].startswith("MIG-")
        assert got["name"] == f"NVIDIA A100 80GB PCIe MIG {want.profile}"
        assert got["is_mig"] == 1 and got["by_uuid_is_mig"] == 1
        assert (got["gi"], got["ci"], got["index"]) == (want.gi, want.ci, j)
        assert got["total"] == profile.memory_total and got["slices"] == profile.gi_slices
        assert got["sm"] == profile.sm_count
        assert got["parent"] == a100.uuid
        assert got["unsupported"] == [NOT_SUPPORTED] * 4
        assert got["parent_of_gpu"] == INVALID_ARGUMENT


def test_fan_ecc_power_and_clocks_as_the_real_cards(nvml_lib_dir: Path, sim_file: Path) -> None:
    result = run_probe(
        """
        N.nvmlInit()
        out = []
        for i in range(3):
            h = N.nvmlDeviceGetHandleByIndex(i)
            ecc = None
            try:
                ecc = N.nvmlDeviceGetEccMode(h)
            except N.NVMLError as error:
                ecc = error.value
            out.append({
                "fan": code(N.nvmlDeviceGetFanSpeed, h),
                "fan_value": (
                    N.nvmlDeviceGetFanSpeed(h) if code(N.nvmlDeviceGetFanSpeed, h) == 0 else None),
                "ecc_mode": ecc,
                "ecc_count": code(N.nvmlDeviceGetTotalEccErrors, h,
                                  N.NVML_MEMORY_ERROR_TYPE_CORRECTED, N.NVML_VOLATILE_ECC),
                "power": N.nvmlDeviceGetPowerUsage(h),
                "limit": N.nvmlDeviceGetEnforcedPowerLimit(h),
                "constraints": list(N.nvmlDeviceGetPowerManagementLimitConstraints(h)),
                "temp": N.nvmlDeviceGetTemperature(h, N.NVML_TEMPERATURE_GPU),
                "slowdown": N.nvmlDeviceGetTemperatureThreshold(
                    h, N.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN),
                "sm": N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM),
                "sm_max": N.nvmlDeviceGetMaxClockInfo(h, N.NVML_CLOCK_SM),
                "pstate": N.nvmlDeviceGetPerformanceState(h),
                "bad_clock": code(N.nvmlDeviceGetClockInfo, h, 99),
            })
        result = out
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    a100, t4, rtx = result
    assert a100["fan"] == NOT_SUPPORTED and t4["fan"] == NOT_SUPPORTED  # passively cooled
    assert rtx["fan"] == 0 and 0 <= rtx["fan_value"] <= 100
    assert a100["ecc_mode"] == [1, 1] and t4["ecc_mode"] == [1, 1] and a100["ecc_count"] == 0
    assert rtx["ecc_mode"] == [0, 0] and rtx["ecc_count"] == NOT_SUPPORTED  # supported, off
    for device, key in zip(result, ("a100-80gb-pcie", "t4", "rtx5000"), strict=True):
        model = MODELS[key]
        assert device["limit"] == model.power_limit_mw
        assert model.power_idle_mw <= device["power"] <= model.power_limit_mw
        assert device["constraints"] == [model.power_min_mw, model.power_limit_mw]
        assert model.temp_idle <= device["temp"] <= model.temp_max
        assert device["slowdown"] == model.temp_slowdown
        assert device["sm"] <= device["sm_max"] == model.clock_sm_max
        assert device["pstate"] in (0, 8)
        assert device["bad_clock"] == INVALID_ARGUMENT


def test_return_codes(nvml_lib_dir: Path, sim_file: Path) -> None:
    result = run_probe(
        """
        import ctypes
        N._LoadNvmlLibrary()
        out = {"before_init": code(N.nvmlDeviceGetCount)}
        N.nvmlInit()
        h = N.nvmlDeviceGetHandleByIndex(1)
        out["bad_index"] = code(N.nvmlDeviceGetHandleByIndex, 99)
        out["unknown_uuid"] = code(N.nvmlDeviceGetHandleByUUID,
                                   b"GPU-00000000-0000-0000-0000-000000000000")
        out["unknown_pci"] = code(N.nvmlDeviceGetHandleByPciBusId, "00000000:99:00.0")
        out["bad_version"] = code(N.nvmlDeviceGetMemoryInfo, h, 0x01000028)
        out["bad_temp_version"] = code(N.nvmlDeviceGetTemperatureV, h, N.NVML_TEMPERATURE_GPU)
        raw_count = N._nvmlGetFunctionPointer("nvmlDeviceGetCount_v2")
        out["null_count"] = raw_count(None)
        name = N._nvmlGetFunctionPointer("nvmlDeviceGetName")
        small = ctypes.create_string_buffer(4)
        out["small_name"] = name(h, small, ctypes.c_uint(4))
        bogus = ctypes.cast(ctypes.c_void_p(0x1000), N.c_nvmlDevice_t)
        out["bogus_handle"] = name(bogus, ctypes.create_string_buffer(96), ctypes.c_uint(96))
        out["lost_string"] = N.nvmlErrorString(15)
        N.nvmlInit()
        N.nvmlShutdown()
        out["after_one_shutdown"] = code(N.nvmlDeviceGetCount)
        N.nvmlShutdown()
        out["after_last_shutdown"] = code(N.nvmlDeviceGetCount)
        result = out
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert result["before_init"] == UNINITIALIZED
    assert result["bad_index"] == INVALID_ARGUMENT
    assert result["unknown_uuid"] == NOT_FOUND and result["unknown_pci"] == NOT_FOUND
    assert result["bad_version"] == ARGUMENT_VERSION_MISMATCH
    assert result["bad_temp_version"] == 0  # pynvml sets the right version itself
    assert result["null_count"] == INVALID_ARGUMENT
    assert result["small_name"] == INSUFFICIENT_SIZE
    assert result["bogus_handle"] == INVALID_ARGUMENT
    assert result["lost_string"] == "GPU is lost"
    assert result["after_one_shutdown"] == 0  # init is reference counted
    assert result["after_last_shutdown"] == UNINITIALIZED


def test_processes_and_insufficient_size(
    nvml_lib_dir: Path, tmp_path: Path, sim: Simulation
) -> None:
    a100, t4 = sim.gpus[0], sim.gpus[1]
    assert a100.mig is not None
    t4.processes = [
        SimProcess(4242, 512 * MIB),
        SimProcess(4243, 256 * MIB),
        SimProcess(4244, 64 * MIB, "graphics"),
    ]
    a100.mig[2].processes = [SimProcess(5151, 1024 * MIB)]
    sim_file = write_simfile(sim, tmp_path / "sim.txt")
    result = run_probe(
        """
        import ctypes
        N.nvmlInit()
        a100, t4 = N.nvmlDeviceGetHandleByIndex(0), N.nvmlDeviceGetHandleByIndex(1)
        mig = N.nvmlDeviceGetMigDeviceHandleByIndex(a100, 2)
        def procs(fn, h):
            return [[p.pid, p.usedGpuMemory, p.gpuInstanceId, p.computeInstanceId] for p in fn(h)]
        raw = N._nvmlGetFunctionPointer("nvmlDeviceGetComputeRunningProcesses_v3")
        count = ctypes.c_uint(0)
        needed = raw(t4, ctypes.byref(count), None)
        one = ctypes.c_uint(1)
        buf = (N.c_nvmlProcessInfo_v3_t * 1)()
        still_short = raw(t4, ctypes.byref(one), buf)
        result = {
            "t4": procs(N.nvmlDeviceGetComputeRunningProcesses, t4),
            "t4_graphics": procs(N.nvmlDeviceGetGraphicsRunningProcesses, t4),
            "mig": procs(N.nvmlDeviceGetComputeRunningProcesses, mig),
            "a100": procs(N.nvmlDeviceGetComputeRunningProcesses, a100),
            "needed": [needed, count.value], "short": [still_short, one.value],
            "t4_used": N.nvmlDeviceGetMemoryInfo(t4, version=N.nvmlMemory_v2).used,
            "mig_used": N.nvmlDeviceGetMemoryInfo(mig).used,
        }
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    none = 0xFFFFFFFF
    assert result["t4"] == [[4242, 512 * MIB, none, none], [4243, 256 * MIB, none, none]]
    assert result["t4_graphics"] == [[4244, 64 * MIB, none, none]]
    assert result["mig"] == [[5151, 1024 * MIB, 3, 0]]
    assert result["a100"] == [[5151, 1024 * MIB, 3, 0]]
    assert result["needed"] == [INSUFFICIENT_SIZE, 2] and result["short"] == [INSUFFICIENT_SIZE, 2]
    assert result["t4_used"] >= (512 + 256 + 64) * MIB
    assert result["mig_used"] >= 1024 * MIB


def test_values_move_with_time_and_can_be_pinned(
    nvml_lib_dir: Path, tmp_path: Path, sim: Simulation
) -> None:
    t4, rtx = sim.gpus[1], sim.gpus[2]
    t4.util_min, t4.util_max, t4.period = 0, 100, 2.0
    rtx.util_min = rtx.util_max = 50
    sim_file = write_simfile(sim, tmp_path / "sim.txt")
    result = run_probe(
        """
        N.nvmlInit()
        t4, rtx = N.nvmlDeviceGetHandleByIndex(1), N.nvmlDeviceGetHandleByIndex(2)
        seen, pinned = set(), set()
        for _ in range(12):
            seen.add(N.nvmlDeviceGetUtilizationRates(t4).gpu)
            pinned.add(N.nvmlDeviceGetUtilizationRates(rtx).gpu)
            time.sleep(0.1)
        result = {"seen": sorted(seen), "pinned": sorted(pinned)}
        """,
        sim_env(nvml_lib_dir, sim_file),
    )
    assert len(result["seen"]) >= 4 and all(0 <= u <= 100 for u in result["seen"])
    assert result["pinned"] == [50]

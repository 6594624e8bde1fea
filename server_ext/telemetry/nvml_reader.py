"""Blocking NVML reads through nvidia-ml-py: one pass over every device into plain dicts.

Everything here blocks (ctypes calls into libnvidia-ml), so the sampler runs it in a
worker thread. Metrics a device does not support become ``None`` and are named in the
device's ``unsupported`` list; they are never reported as zero.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

Device = dict[str, Any]

# Stable machine-readable top-level states.
OK = "ok"
NO_LIBRARY = "no_library"
NO_DRIVER = "no_driver"
NO_DEVICES = "no_devices"
GPU_LOST = "gpu_lost"
ERROR = "error"

_NOT_AVAILABLE = 0xFFFFFFFFFFFFFFFF
_NO_INSTANCE = 0xFFFFFFFF


class Unavailable(Exception):
    """NVML cannot be used right now; ``status`` and ``message`` say why."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _DeviceFailed(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


_MISSING = object()


class NvmlReader:
    """Owns the NVML session of one process: init, one read pass, shutdown."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self.passes = 0

    @property
    def is_open(self) -> bool:
        return self._nvml is not None

    def open(self) -> None:
        """Import nvidia-ml-py and ``nvmlInit``; raise :class:`Unavailable` with the reason."""
        try:
            import pynvml
        except ImportError:
            raise Unavailable(
                NO_LIBRARY, "nvidia-ml-py is not installed, so GPU telemetry is unavailable."
            ) from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            raise _unavailable(pynvml, error) from None
        except OSError as error:  # a broken library file
            raise Unavailable(
                NO_LIBRARY, f"The NVML library could not be loaded: {error}."
            ) from None
        self._nvml = pynvml

    def close(self) -> None:
        """``nvmlShutdown`` if a session is open; never raises."""
        nvml, self._nvml = self._nvml, None
        if nvml is not None:
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def read(self) -> dict[str, Any]:
        """One pass: driver versions and every device. Raises :class:`Unavailable`."""
        nvml = self._nvml
        if nvml is None:
            raise Unavailable(ERROR, "NVML is not initialised.")
        self.passes += 1
        try:
            count = nvml.nvmlDeviceGetCount()
            system = {
                "driver_version": _opt(nvml, nvml.nvmlSystemGetDriverVersion),
                "nvml_version": _opt(nvml, nvml.nvmlSystemGetNVMLVersion),
                "cuda_driver_version": _cuda_version(
                    _opt(nvml, nvml.nvmlSystemGetCudaDriverVersion)
                ),
            }
        except nvml.NVMLError as error:
            raise _unavailable(nvml, error) from None
        devices = [self._read_device(index) for index in range(count)]
        return {**system, "devices": devices}

    # -- one device -------------------------------------------------------------------

    def _read_device(self, index: int) -> Device:
        nvml = self._nvml
        device: Device = {"index": index, "kind": "gpu", "status": OK, "message": None}
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            self._fill_gpu(handle, device)
        except _DeviceFailed as failure:
            device.update(status=failure.status, message=str(failure))
        except nvml.NVMLError as error:
            status, message = _device_error(nvml, error)
            device.update(status=status, message=message)
        return device

    def _fill_gpu(self, handle: Any, device: Device) -> None:
        nvml = self._nvml
        unsupported: list[str] = []
        q = _Query(nvml, unsupported)
        device["uuid"] = q.must(nvml.nvmlDeviceGetUUID, handle)
        device["name"] = q.must(nvml.nvmlDeviceGetName, handle)
        pci = q("pci_bus_id", nvml.nvmlDeviceGetPciInfo, handle)
        device["pci_bus_id"] = _text(pci.busId) if pci is not None else None
        mig_mode = q("mig", nvml.nvmlDeviceGetMigMode, handle)
        util = q.quiet(nvml.nvmlDeviceGetUtilizationRates, handle)
        device["utilization_gpu"] = util.gpu if util is not None else None
        device["utilization_memory"] = util.memory if util is not None else None
        if util is None:
            unsupported += ["utilization_gpu", "utilization_memory"]
        _fill_memory(q, nvml, handle, device)
        device["temperature_c"] = q(
            "temperature_c", nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
        )
        device["fan_percent"] = q("fan_percent", nvml.nvmlDeviceGetFanSpeed, handle)
        device["power_draw_w"] = _watts(q("power_draw_w", nvml.nvmlDeviceGetPowerUsage, handle))
        device["power_limit_w"] = _watts(
            q("power_limit_w", nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        )
        device["clock_sm_mhz"] = q(
            "clock_sm_mhz", nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM
        )
        device["clock_memory_mhz"] = q(
            "clock_memory_mhz", nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM
        )
        device["performance_state"] = q(
            "performance_state", nvml.nvmlDeviceGetPerformanceState, handle
        )
        device["ecc_errors"] = _ecc(q, nvml, handle)
        device["processes"] = _processes(q, nvml, handle)
        if mig_mode is None:
            device["mig"] = None
        else:
            current, pending = mig_mode
            enabled = current == nvml.NVML_DEVICE_MIG_ENABLE
            device["mig"] = {
                "enabled": enabled,
                "pending_enabled": pending == nvml.NVML_DEVICE_MIG_ENABLE,
                "devices": self._read_migs(handle) if enabled else [],
            }
        device["unsupported"] = unsupported

    def _read_migs(self, parent: Any) -> list[Device]:
        nvml = self._nvml
        migs: list[Device] = []
        count = nvml.nvmlDeviceGetMaxMigDeviceCount(parent)
        for index in range(count):
            try:
                handle = nvml.nvmlDeviceGetMigDeviceHandleByIndex(parent, index)
            except nvml.NVMLError as error:
                if error.value == nvml.NVML_ERROR_NOT_FOUND:
                    continue
                raise
            unsupported: list[str] = []
            q = _Query(nvml, unsupported)
            mig: Device = {"index": index, "kind": "mig"}
            mig["uuid"] = q.must(nvml.nvmlDeviceGetUUID, handle)
            mig["name"] = q.must(nvml.nvmlDeviceGetName, handle)
            attrs = q("profile", nvml.nvmlDeviceGetAttributes, handle)
            mig["profile"] = _profile(mig["name"], attrs)
            mig["gpu_instance_id"] = q("gpu_instance_id", nvml.nvmlDeviceGetGpuInstanceId, handle)
            mig["compute_instance_id"] = q(
                "compute_instance_id", nvml.nvmlDeviceGetComputeInstanceId, handle
            )
            _fill_memory(q, nvml, handle, mig)
            mig["processes"] = _processes(q, nvml, handle)
            mig["unsupported"] = unsupported
            migs.append(mig)
        return migs


class _Query:
    """Call one NVML getter: unsupported -> ``None`` (and noted), lost/other -> device failure."""

    def __init__(self, nvml: Any, unsupported: list[str]) -> None:
        self.nvml = nvml
        self.unsupported = unsupported

    def __call__(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        value = self.quiet(fn, *args)
        if value is None:
            self.unsupported.append(name)
        return value

    def quiet(self, fn: Callable[..., Any], *args: Any) -> Any:
        nvml = self.nvml
        try:
            return fn(*args)
        except nvml.NVMLError as error:
            if error.value in (
                nvml.NVML_ERROR_NOT_SUPPORTED,
                nvml.NVML_ERROR_FUNCTION_NOT_FOUND,
                nvml.NVML_ERROR_NO_PERMISSION,
            ):
                return None
            status, message = _device_error(nvml, error)
            raise _DeviceFailed(status, message) from None

    def must(self, fn: Callable[..., Any], *args: Any) -> Any:
        value = self.quiet(fn, *args)
        if value is None:
            raise _DeviceFailed(ERROR, f"NVML does not report {fn.__name__} for this device.")
        return _text(value)


def _fill_memory(q: _Query, nvml: Any, handle: Any, device: Device) -> None:
    memory = q.quiet(_memory_v2, nvml, handle)
    if memory is None:
        memory = q("memory_used_bytes", nvml.nvmlDeviceGetMemoryInfo, handle)
        reserved = None
    else:
        reserved = int(memory.reserved)
    device["memory_used_bytes"] = int(memory.used) if memory is not None else None
    device["memory_total_bytes"] = int(memory.total) if memory is not None else None
    device["memory_reserved_bytes"] = reserved


def _memory_v2(nvml: Any, handle: Any) -> Any:
    try:
        return nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
    except nvml.NVMLError as error:
        if error.value == nvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH:
            raise nvml.NVMLError(nvml.NVML_ERROR_FUNCTION_NOT_FOUND) from None
        raise


def _ecc(q: _Query, nvml: Any, handle: Any) -> dict[str, int] | None:
    mode = q.quiet(nvml.nvmlDeviceGetEccMode, handle)
    counts = None
    if mode is not None and mode[0] == nvml.NVML_FEATURE_ENABLED:
        corrected = q.quiet(
            nvml.nvmlDeviceGetTotalEccErrors,
            handle,
            nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED,
            nvml.NVML_VOLATILE_ECC,
        )
        uncorrected = q.quiet(
            nvml.nvmlDeviceGetTotalEccErrors,
            handle,
            nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED,
            nvml.NVML_VOLATILE_ECC,
        )
        if corrected is not None and uncorrected is not None:
            counts = {"corrected": int(corrected), "uncorrected": int(uncorrected)}
    if counts is None:
        q.unsupported.append("ecc_errors")
    return counts


def _processes(q: _Query, nvml: Any, handle: Any) -> list[dict[str, Any]]:
    seen: dict[int, dict[str, Any]] = {}
    for kind, fn in (
        ("compute", nvml.nvmlDeviceGetComputeRunningProcesses),
        ("graphics", nvml.nvmlDeviceGetGraphicsRunningProcesses),
    ):
        for proc in q.quiet(fn, handle) or ():
            used = proc.usedGpuMemory
            gi = getattr(proc, "gpuInstanceId", _NO_INSTANCE)
            ci = getattr(proc, "computeInstanceId", _NO_INSTANCE)
            seen.setdefault(
                int(proc.pid),
                {
                    "pid": int(proc.pid),
                    "type": kind,
                    "used_memory_bytes": None if used in (None, _NOT_AVAILABLE) else int(used),
                    "gpu_instance_id": None if gi == _NO_INSTANCE else int(gi),
                    "compute_instance_id": None if ci == _NO_INSTANCE else int(ci),
                },
            )
    return list(seen.values())


def _profile(name: str, attrs: Any) -> str | None:
    if " MIG " in name:
        return name.rsplit(" MIG ", 1)[1].strip()
    if attrs is not None and attrs.gpuInstanceSliceCount:
        return f"{attrs.gpuInstanceSliceCount}g.{round(attrs.memorySizeMB / 1024)}gb"
    return None


def _opt(nvml: Any, fn: Callable[[], Any]) -> Any:
    try:
        return _text(fn())
    except nvml.NVMLError as error:
        if error.value in (nvml.NVML_ERROR_NOT_SUPPORTED, nvml.NVML_ERROR_FUNCTION_NOT_FOUND):
            return None
        raise


def _text(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _watts(milliwatts: int | None) -> float | None:
    return None if milliwatts is None else round(milliwatts / 1000.0, 3)


def _cuda_version(value: int | None) -> str | None:
    if not isinstance(value, int):
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _device_error(nvml: Any, error: Any) -> tuple[str, str]:
    if error.value == nvml.NVML_ERROR_GPU_IS_LOST:
        return GPU_LOST, "The GPU has fallen off the bus or is otherwise inaccessible."
    return ERROR, f"NVML reported an error for this GPU: {error}."


def _unavailable(nvml: Any, error: Any) -> Unavailable:
    if error.value == nvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return Unavailable(
            NO_LIBRARY,
            "The NVIDIA management library (libnvidia-ml.so.1) was not found: "
            "this server has no NVIDIA driver, so there is no GPU telemetry.",
        )
    if error.value == nvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return Unavailable(NO_DRIVER, "The NVIDIA driver is not loaded on this machine.")
    if error.value == nvml.NVML_ERROR_NO_PERMISSION:
        return Unavailable(ERROR, "This server may not talk to the NVIDIA driver (no permission).")
    return Unavailable(ERROR, f"NVML failed: {error}.")


def visible_devices_hint() -> str:
    """A sentence about ``NVIDIA_VISIBLE_DEVICES``, for the "no devices" message."""
    value = os.environ.get("NVIDIA_VISIBLE_DEVICES")
    if value is None:
        return "No GPU is visible to this server."
    return f"No GPU is visible to this server (NVIDIA_VISIBLE_DEVICES={value!r})."

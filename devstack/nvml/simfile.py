"""The simulation file the simulated NVML library reads: devices, load, processes, failures.

Format (version 1), one record a line, fields separated by TABs::

    format  version=1
    driver  version=580.82.07-devstack-sim  cuda_version=13000  fail=driver_not_loaded
    gpu     uuid=GPU-...  name=Tesla T4  bus_id=00000000:17:00.0  memory_total=...  ...
    mig     parent=GPU-...  uuid=MIG-...  profile=3g.40gb  gi=1  ci=0  memory_total=...
    proc    device=GPU-...|MIG-...  pid=1234  used_memory=1073741824  type=compute

The library re-reads the file at every ``nvmlInit`` and, while initialised, at most
every 0.5 s when its mtime or size changed; writes here are atomic (rename), so a
reader never sees half a file. Utilisation, temperature, power, clocks and memory
are computed by the library from the wall clock and each GPU's ``seed``: smooth,
deterministic, and plausible (``util_min == util_max`` pins utilisation).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from .models import A100_80GB_MIG_PROFILES, MIB, MODELS, GpuModel

SIM_FILE_ENV = "ACCELHUB_NVML_SIM_FILE"
DRIVER_VERSION = "580.82.07-devstack-sim"
NVML_VERSION = "13.580.82.07-devstack-sim"
CUDA_VERSION = 13000

GlobalFailure = Literal["driver_not_loaded", "unknown_error"]
DeviceFailure = Literal["gpu_lost", "unknown_error"]


def stable_uuid(prefix: str, *parts: str) -> str:
    """A deterministic NVML-style UUID (``GPU-…`` or ``MIG-…``) derived from ``parts``."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()[:16]
    return f"{prefix}-{uuid.UUID(bytes=digest)}"


@dataclass
class SimProcess:
    """A process holding memory on a GPU or MIG device."""

    pid: int
    used_memory: int
    type: Literal["compute", "graphics"] = "compute"


@dataclass
class SimMig:
    """One MIG device (a GPU instance with one full compute instance)."""

    uuid: str
    profile: str
    gi: int
    ci: int = 0
    processes: list[SimProcess] = field(default_factory=list)


@dataclass
class SimGpu:
    """One physical GPU, its load curve, MIG layout, processes and injected failure."""

    model: str
    uuid: str
    bus_id: str
    serial: str
    minor: int
    seed: int = 1
    util_min: float = 0.0
    util_max: float = 100.0
    period: float = 120.0
    memory_wander: int = 0
    mig: list[SimMig] | None = None  # None: MIG disabled
    processes: list[SimProcess] = field(default_factory=list)
    fail: DeviceFailure | None = None
    fail_at: float = 0.0  # epoch seconds from which ``fail`` applies

    @property
    def spec(self) -> GpuModel:
        return MODELS[self.model]


@dataclass
class Simulation:
    """Everything the simulated library reports."""

    gpus: list[SimGpu] = field(default_factory=list)
    driver_version: str = DRIVER_VERSION
    cuda_version: int = CUDA_VERSION
    fail: GlobalFailure | None = None

    def resources(self) -> dict[str, list[str]]:
        """Device UUIDs per Kubernetes extended resource (the MIG "mixed" strategy)."""
        out: dict[str, list[str]] = {}
        for gpu in self.gpus:
            if gpu.mig is None:
                out.setdefault("nvidia.com/gpu", []).append(gpu.uuid)
                continue
            for mig in gpu.mig:
                out.setdefault(f"nvidia.com/mig-{mig.profile}", []).append(mig.uuid)
        return out

    def find(self, device_uuid: str) -> SimGpu | SimMig:
        """The GPU or MIG device with this UUID."""
        for gpu in self.gpus:
            if gpu.uuid == device_uuid:
                return gpu
            for mig in gpu.mig or ():
                if mig.uuid == device_uuid:
                    return mig
        raise KeyError(device_uuid)


def make_gpu(model: str, node: str, index: int, **kwargs: object) -> SimGpu:
    """A GPU of ``model`` with identifiers derived from ``node`` and ``index``."""
    if model not in MODELS:
        raise ValueError(f"unknown GPU model {model!r}; known: {', '.join(MODELS)}")
    bus = 0x17 + 0x10 * index
    gpu = SimGpu(
        model=model,
        uuid=stable_uuid("GPU", node, str(index), model),
        bus_id=f"00000000:{bus:02X}:00.0",
        serial=str(
            1320000000000 + int(hashlib.sha256(f"{node}/{index}".encode()).hexdigest()[:8], 16)
        ),
        minor=index,
        seed=index + 1,
    )
    for key, value in kwargs.items():
        if not hasattr(gpu, key):
            raise TypeError(f"SimGpu has no field {key!r}")
        setattr(gpu, key, value)
    return gpu


def make_migs(gpu: SimGpu, profiles: Iterable[str]) -> list[SimMig]:
    """MIG devices of the given A100 80GB profiles, with stable MIG UUIDs."""
    migs = []
    for i, profile in enumerate(profiles):
        if profile not in A100_80GB_MIG_PROFILES:
            raise ValueError(f"unknown MIG profile {profile!r}")
        migs.append(
            SimMig(uuid=stable_uuid("MIG", gpu.uuid, str(i), profile), profile=profile, gi=i + 1)
        )
    if sum(A100_80GB_MIG_PROFILES[m.profile].gi_slices for m in migs) > 7:
        raise ValueError("MIG profiles exceed the A100's seven slices")
    return migs


class MigSpec(Protocol):
    """A MIG slice as a cluster description names it."""

    @property
    def profile(self) -> str: ...

    @property
    def uuid(self) -> str: ...


class GpuSpec(Protocol):
    """A GPU as a cluster description names it (e.g. ``devstack.cluster.Gpu``)."""

    @property
    def model(self) -> str: ...

    @property
    def uuid(self) -> str: ...

    @property
    def mig(self) -> Sequence[MigSpec]: ...


def simulation_for(gpus: Iterable[GpuSpec], node: str = "devstack") -> Simulation:
    """A simulation of exactly these GPUs and MIG slices, keeping their UUIDs.

    The kubelet hands containers these UUIDs in ``NVIDIA_VISIBLE_DEVICES``, so the
    library must report the same ones. A GPU with MIG slices runs in MIG mode.
    """
    sim = Simulation()
    for index, spec in enumerate(gpus):
        gpu = make_gpu(spec.model, node, index, uuid=spec.uuid, util_min=0, util_max=60)
        if spec.mig:
            migs = make_migs(gpu, [m.profile for m in spec.mig])
            for mig, mig_spec in zip(migs, spec.mig, strict=True):
                mig.uuid = mig_spec.uuid
            gpu.mig = migs
        sim.gpus.append(gpu)
    return sim


def default_simulation(node: str = "devstack") -> Simulation:
    """AI_INFN-like node: an A100 80GB in MIG (3g.40gb, 2g.20gb, 1g.10gb x2), a T4, an RTX 5000."""
    a100 = make_gpu("a100-80gb-pcie", node, 0, util_min=5, util_max=90, period=180)
    a100.mig = make_migs(a100, ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"])
    t4 = make_gpu("t4", node, 1, util_min=0, util_max=70, period=90, memory_wander=2048 * MIB)
    rtx = make_gpu(
        "rtx5000", node, 2, util_min=0, util_max=40, period=150, memory_wander=1024 * MIB
    )
    return Simulation(gpus=[a100, t4, rtx])


def _clean(value: object) -> str:
    text = str(value)
    if any(ch in text for ch in "\t\n\r"):
        raise ValueError(f"simulation values may not contain tabs or newlines: {text!r}")
    return text


def _record(kind: str, fields: dict[str, object]) -> str:
    return "\t".join([kind, *(f"{k}={_clean(v)}" for k, v in fields.items())])


def _gpu_record(gpu: SimGpu) -> str:
    spec = gpu.spec
    return _record(
        "gpu",
        {
            "uuid": gpu.uuid,
            "name": spec.name,
            "serial": gpu.serial,
            "bus_id": gpu.bus_id,
            "minor": gpu.minor,
            "brand": spec.brand,
            "pci_device_id": hex(spec.pci_device_id),
            "pci_subsystem_id": hex(spec.pci_subsystem_id),
            "memory_total": spec.memory_total,
            "memory_reserved": spec.memory_reserved,
            "memory_overhead": spec.memory_overhead,
            "memory_wander": gpu.memory_wander,
            "bar1_total": spec.bar1_total,
            "util_min": gpu.util_min,
            "util_max": gpu.util_max,
            "period": gpu.period,
            "seed": gpu.seed,
            "temp_idle": spec.temp_idle,
            "temp_max": spec.temp_max,
            "temp_shutdown": spec.temp_shutdown,
            "temp_slowdown": spec.temp_slowdown,
            "temp_gpu_max": spec.temp_gpu_max,
            "temp_mem_max": spec.temp_mem_max,
            "fan": int(spec.has_fan),
            "fan_min": 30,
            "fan_max": 85,
            "power_idle": spec.power_idle_mw,
            "power_limit": spec.power_limit_mw,
            "power_default_limit": spec.power_limit_mw,
            "power_min_limit": spec.power_min_mw,
            "power_max_limit": spec.power_limit_mw,
            "clock_sm_idle": spec.clock_sm_idle,
            "clock_sm_max": spec.clock_sm_max,
            "clock_mem_idle": spec.clock_mem_idle,
            "clock_mem_max": spec.clock_mem_max,
            "clock_video_max": spec.clock_video_max,
            "ecc": int(spec.ecc_supported),
            "ecc_enabled": int(spec.ecc_enabled),
            "ecc_corrected": 0,
            "ecc_uncorrected": 0,
            "mig_capable": int(spec.mig_capable),
            "mig_mode": int(gpu.mig is not None),
            "mig_pending": int(gpu.mig is not None),
            "mig_max": spec.mig_max,
            "cc_major": spec.cc[0],
            "cc_minor": spec.cc[1],
            "sm_count": spec.sm_count,
            "fail": gpu.fail or "none",
            "fail_at": f"{gpu.fail_at:.3f}",
        },
    )


def _mig_record(gpu: SimGpu, mig: SimMig) -> str:
    profile = A100_80GB_MIG_PROFILES[mig.profile]
    return _record(
        "mig",
        {
            "parent": gpu.uuid,
            "uuid": mig.uuid,
            "name": f"{gpu.spec.name} MIG {mig.profile}",
            "profile": mig.profile,
            "gi": mig.gi,
            "ci": mig.ci,
            "memory_total": profile.memory_total,
            "memory_overhead": 13 * MIB * profile.gi_slices,
            "sm_count": profile.sm_count,
            "copy_engines": profile.copy_engines,
            "decoders": profile.decoders,
            "encoders": 0,
            "jpegs": profile.jpegs,
            "ofas": profile.ofas,
            "gi_slices": profile.gi_slices,
            "ci_slices": profile.gi_slices,
        },
    )


def _proc_record(device_uuid: str, proc: SimProcess) -> str:
    return _record(
        "proc",
        {
            "device": device_uuid,
            "pid": proc.pid,
            "used_memory": proc.used_memory,
            "type": proc.type,
        },
    )


def render(sim: Simulation) -> str:
    """The simulation file's text for ``sim``."""
    lines = [
        "# accelhub devstack simulated NVML: a test and demo double, never used in production.",
        _record("format", {"version": 1}),
        _record(
            "driver",
            {
                "version": sim.driver_version,
                "nvml_version": NVML_VERSION,
                "cuda_version": sim.cuda_version,
                "fail": sim.fail or "none",
            },
        ),
    ]
    for gpu in sim.gpus:
        lines.append(_gpu_record(gpu))
        for mig in gpu.mig or ():
            lines.append(_mig_record(gpu, mig))
            lines.extend(_proc_record(mig.uuid, p) for p in mig.processes)
        if gpu.mig is None:
            lines.extend(_proc_record(gpu.uuid, p) for p in gpu.processes)
    return "\n".join(lines) + "\n"


def write_simfile(sim: Simulation, path: Path) -> Path:
    """Write ``sim`` to ``path`` atomically (the library never reads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".nvml-sim.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(render(sim))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def lose_gpu_after(gpu: SimGpu, seconds: float) -> None:
    """Make ``gpu`` fall off the bus ``seconds`` from now."""
    gpu.fail = "gpu_lost"
    gpu.fail_at = time.time() + seconds

"""Static properties of the simulated GPU models and of the A100's MIG profiles."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuModel:
    """What NVML reports about one GPU model that does not change with load."""

    key: str
    name: str
    pci_device_id: int
    pci_subsystem_id: int
    brand: int  # nvmlBrandType_t
    memory_total: int
    memory_reserved: int
    memory_overhead: int
    bar1_total: int
    sm_count: int
    cc: tuple[int, int]
    temp_idle: int
    temp_max: int
    temp_shutdown: int
    temp_slowdown: int
    temp_gpu_max: int
    temp_mem_max: int
    has_fan: bool
    power_idle_mw: int
    power_limit_mw: int
    power_min_mw: int
    clock_sm_idle: int
    clock_sm_max: int
    clock_mem_idle: int
    clock_mem_max: int
    clock_video_max: int
    ecc_supported: bool
    ecc_enabled: bool
    mig_capable: bool
    mig_max: int
    resource: str  # the GPU Feature Discovery product label


@dataclass(frozen=True)
class MigProfile:
    """One MIG GPU-instance profile with a full-size compute instance."""

    name: str
    gi_slices: int
    memory_total: int
    sm_count: int
    copy_engines: int
    decoders: int
    jpegs: int
    ofas: int


# Passively cooled data-centre cards (A100 PCIe, T4) report no fan; the Quadro RTX 5000
# has one. The A100 and T4 ship with ECC on; the Quadro RTX 5000 supports ECC but ships
# with it off, so its error counters are unavailable until an admin enables it.
MODELS: dict[str, GpuModel] = {
    "a100-80gb-pcie": GpuModel(
        key="a100-80gb-pcie",
        name="NVIDIA A100 80GB PCIe",
        pci_device_id=0x20B510DE,
        pci_subsystem_id=0x153310DE,
        brand=2,
        memory_total=81920 * MIB,
        memory_reserved=537 * MIB,
        memory_overhead=0,
        bar1_total=131072 * MIB,
        sm_count=108,
        cc=(8, 0),
        temp_idle=34,
        temp_max=71,
        temp_shutdown=92,
        temp_slowdown=89,
        temp_gpu_max=85,
        temp_mem_max=95,
        has_fan=False,
        power_idle_mw=45_000,
        power_limit_mw=300_000,
        power_min_mw=150_000,
        clock_sm_idle=210,
        clock_sm_max=1410,
        clock_mem_idle=1512,
        clock_mem_max=1512,
        clock_video_max=1275,
        ecc_supported=True,
        ecc_enabled=True,
        mig_capable=True,
        mig_max=7,
        resource="NVIDIA-A100-80GB-PCIe",
    ),
    "t4": GpuModel(
        key="t4",
        name="Tesla T4",
        pci_device_id=0x1EB810DE,
        pci_subsystem_id=0x12A210DE,
        brand=2,
        memory_total=15360 * MIB,
        memory_reserved=255 * MIB,
        memory_overhead=3 * MIB,
        bar1_total=256 * MIB,
        sm_count=40,
        cc=(7, 5),
        temp_idle=31,
        temp_max=68,
        temp_shutdown=96,
        temp_slowdown=93,
        temp_gpu_max=85,
        temp_mem_max=0,
        has_fan=False,
        power_idle_mw=9_000,
        power_limit_mw=70_000,
        power_min_mw=60_000,
        clock_sm_idle=300,
        clock_sm_max=1590,
        clock_mem_idle=405,
        clock_mem_max=5001,
        clock_video_max=1470,
        ecc_supported=True,
        ecc_enabled=True,
        mig_capable=False,
        mig_max=0,
        resource="Tesla-T4",
    ),
    "rtx5000": GpuModel(
        key="rtx5000",
        name="Quadro RTX 5000",
        pci_device_id=0x1EB010DE,
        pci_subsystem_id=0x129F10DE,
        brand=1,
        memory_total=16384 * MIB,
        memory_reserved=241 * MIB,
        memory_overhead=6 * MIB,
        bar1_total=256 * MIB,
        sm_count=48,
        cc=(7, 5),
        temp_idle=35,
        temp_max=78,
        temp_shutdown=99,
        temp_slowdown=96,
        temp_gpu_max=93,
        temp_mem_max=0,
        has_fan=True,
        power_idle_mw=14_000,
        power_limit_mw=230_000,
        power_min_mw=125_000,
        clock_sm_idle=300,
        clock_sm_max=1815,
        clock_mem_idle=405,
        clock_mem_max=7001,
        clock_video_max=1695,
        ecc_supported=True,
        ecc_enabled=False,
        mig_capable=False,
        mig_max=0,
        resource="Quadro-RTX-5000",
    ),
}

A100_80GB_MIG_PROFILES: dict[str, MigProfile] = {
    p.name: p
    for p in (
        MigProfile("1g.10gb", 1, 9728 * MIB, 14, 1, 0, 0, 0),
        MigProfile("2g.20gb", 2, 19968 * MIB, 28, 2, 1, 0, 0),
        MigProfile("3g.40gb", 3, 40192 * MIB, 42, 3, 2, 0, 0),
        MigProfile("4g.40gb", 4, 40192 * MIB, 56, 4, 2, 0, 0),
        MigProfile("7g.80gb", 7, 80896 * MIB, 98, 7, 5, 1, 1),
    )
}

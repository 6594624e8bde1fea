"""The environment that points an NVML client at the simulated library and its file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .build import build_library
from .simfile import SIM_FILE_ENV, Simulation, default_simulation, write_simfile

SIM_FILE_NAME = "nvml-sim.txt"


def sim_file_path(state_dir: Path) -> Path:
    """Where devstack keeps the simulation file under its state directory."""
    return Path(state_dir) / "nvml" / SIM_FILE_NAME


def nvml_env(
    state_dir: Path,
    simulation: Simulation | None = None,
    cache_dir: Path | None = None,
) -> dict[str, str]:
    """Build the library if needed, write the simulation file if absent, return the env.

    ``LD_LIBRARY_PATH`` holds only the library's directory: prepend it to any existing
    value. nvidia-ml-py ``dlopen``s ``libnvidia-ml.so.1`` by name, so the dynamic
    loader finds the double there.
    """
    library = build_library(cache_dir)
    sim_file = sim_file_path(state_dir)
    if simulation is not None or not sim_file.exists():
        write_simfile(simulation or default_simulation(), sim_file)
    return {"LD_LIBRARY_PATH": str(library.parent), SIM_FILE_ENV: str(sim_file)}


def gpu_pod_env(
    state_dir: Path,
    visible_devices: Sequence[str] | None = None,
    cache_dir: Path | None = None,
) -> dict[str, str]:
    """The env a process kubelet gives a GPU pod: library, simulation file, visible devices.

    ``visible_devices`` are GPU or MIG UUIDs (or indices), as the NVIDIA device plugin
    would hand them to the container runtime; ``None`` leaves ``NVIDIA_VISIBLE_DEVICES``
    unset (every device is visible, as on a host).
    """
    env = nvml_env(Path(state_dir), cache_dir=cache_dir)
    if visible_devices is not None:
        env["NVIDIA_VISIBLE_DEVICES"] = ",".join(visible_devices) if visible_devices else "none"
    return env

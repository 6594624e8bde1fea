"""devstack's simulated NVML: a ``libnvidia-ml.so.1`` double and the file that drives it.

A test and demo double only; production nodes load the NVIDIA driver's own library.
"""

from __future__ import annotations

from .env import gpu_pod_env, nvml_env
from .simfile import SIM_FILE_ENV, Simulation, default_simulation, simulation_for, write_simfile

__all__ = [
    "SIM_FILE_ENV",
    "Simulation",
    "default_simulation",
    "gpu_pod_env",
    "nvml_env",
    "simulation_for",
    "write_simfile",
]

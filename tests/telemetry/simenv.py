"""Run Python snippets against the simulated NVML library in fresh processes.

pynvml loads ``libnvidia-ml.so.1`` once per process, and the dynamic loader reads
``LD_LIBRARY_PATH`` at start-up, so every scenario gets its own interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from devstack.nvml.simfile import SIM_FILE_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]

PRELUDE = """
import json, sys, time
import pynvml as N

def code(fn, *args):
    try:
        fn(*args)
    except N.NVMLError as error:
        return error.value
    return 0

def num(value):
    return getattr(value, "value", value)
"""


def sim_env(
    lib_dir: Path | None,
    sim_file: Path | None,
    visible: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a process that should see the simulated devices."""
    env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_VISIBLE_DEVICES", SIM_FILE_ENV)}
    env.pop("LD_LIBRARY_PATH", None)
    if lib_dir is not None:
        env["LD_LIBRARY_PATH"] = str(lib_dir)
    if sim_file is not None:
        env[SIM_FILE_ENV] = str(sim_file)
    if visible is not None:
        env["NVIDIA_VISIBLE_DEVICES"] = visible
    env["PYTHONPATH"] = str(REPO_ROOT)
    env.update(extra)
    return env


def run_probe(body: str, env: dict[str, str], timeout: float = 60) -> Any:
    """Run ``body`` (which sets ``result``) in a new interpreter; return ``result``."""
    script = PRELUDE + textwrap.dedent(body) + "\nprint('RESULT=' + json.dumps(result))\n"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT="):
            return json.loads(line[len("RESULT=") :])
    raise AssertionError(f"probe failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

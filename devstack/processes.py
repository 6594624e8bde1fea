"""Stopping a child started in its own process group (``start_new_session=True``)."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any


def stop_group(process: subprocess.Popen[Any] | None, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds; nothing if it has ended."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    except ProcessLookupError:
        pass

"""A server on a machine without NVIDIA driver answers with a reason, and keeps working."""

from __future__ import annotations

import ctypes.util
import json
import os
from pathlib import Path

import pytest

from tests.conftest import LabServer
from tests.server_ext.test_health_api import fetch


def _nvml_reachable() -> bool:
    """Whether a server started from this environment could load some libnvidia-ml."""
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    in_path = any((Path(d) / "libnvidia-ml.so.1").exists() for d in dirs)
    return in_path or ctypes.util.find_library("nvidia-ml") is not None


@pytest.mark.skipif(_nvml_reachable(), reason="an NVML library is reachable from this environment")
def test_no_library_is_reported_not_raised(lab_server: LabServer) -> None:
    for _ in range(2):  # the second answer comes from the backoff window, at once
        status, body, _ = fetch(lab_server.api_url("accelhub/api/telemetry"), lab_server.token)
        assert status == 200
        data = json.loads(body)
        assert data["status"] == "no_library" and data["devices"] == []
        assert "libnvidia-ml.so.1" in data["message"]
    status, body, _ = fetch(lab_server.api_url("accelhub/metrics/gpu"), lab_server.token)
    assert status == 200
    assert b'accelhub_gpu_telemetry_status{accelhub_gpu_telemetry_status="no_library"} 1.0' in body
    status, _, _ = fetch(lab_server.api_url("accelhub/api/health"), lab_server.token)
    assert status == 200

"""Every telemetry setting, as traitlets (``c.TelemetryConfig.<name>`` in server config)."""

from __future__ import annotations

import os

from traitlets import Bool, Float, Int, Unicode, default
from traitlets.config import Configurable


class TelemetryConfig(Configurable):
    """GPU telemetry settings of the accelhub server extension."""

    interval = Float(
        1.0,
        min=0.1,
        config=True,
        help="Seconds between NVML sampling passes of the shared sampler.",
    )
    history_seconds = Int(
        600, min=10, config=True, help="How many seconds of samples the history ring buffer keeps."
    )
    keep_warm_seconds = Float(
        30.0,
        min=0.0,
        config=True,
        help="After a REST or metrics request, keep sampling this long without subscribers.",
    )
    min_client_interval = Float(
        0.5,
        min=0.1,
        config=True,
        help="Fastest per-client WebSocket interval a client may ask for.",
    )
    max_client_interval = Float(
        3600.0, config=True, help="Slowest per-client WebSocket interval a client may ask for."
    )
    retry_initial = Float(
        1.0, min=0.1, config=True, help="First delay before retrying NVML initialisation."
    )
    retry_max = Float(
        60.0, min=0.1, config=True, help="Longest delay between NVML initialisation retries."
    )
    processes = Bool(
        True, config=True, help="Report GPU processes with their user and whether they are ours."
    )
    busy_threshold = Float(
        10.0,
        min=0.0,
        max=100.0,
        config=True,
        help="Average GPU utilisation (percent) at or above which a device counts as busy.",
    )
    hub_activity_url = Unicode(
        config=True,
        help="URL of the hub service's GPU activity endpoint; empty disables activity reports. "
        "Defaults to $ACCELHUB_ACTIVITY_URL, which the AcceleratorSpawner sets in GPU servers.",
    )

    @default("hub_activity_url")
    def _default_hub_activity_url(self) -> str:
        return os.environ.get("ACCELHUB_ACTIVITY_URL", "")

    activity_interval = Float(
        60.0, min=1.0, config=True, help="Seconds between GPU activity reports to the hub service."
    )
    activity_window = Float(
        300.0, min=1.0, config=True, help="Seconds of history an activity report summarises."
    )
    activity_timeout = Float(
        10.0, min=1.0, config=True, help="Timeout in seconds of one activity report request."
    )

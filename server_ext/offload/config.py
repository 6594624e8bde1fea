"""Every offload setting, as traitlets (``c.OffloadConfig.<name>`` in server config)."""

from __future__ import annotations

import os

from traitlets import Float, Int, Unicode, default
from traitlets.config import Configurable


class OffloadConfig(Configurable):
    """How this user server reaches the hub service's offload gateway."""

    service_url = Unicode(
        config=True,
        help="Base URL of the accelhub hub service as this server reaches it, e.g. "
        "http://hub:8081/services/accelhub/; empty disables offload. Defaults to "
        "$ACCELHUB_SERVICE_URL, which the AcceleratorSpawner sets in every server.",
    )

    @default("service_url")
    def _default_service_url(self) -> str:
        return os.environ.get("ACCELHUB_SERVICE_URL", "")

    token = Unicode(
        config=True,
        help="Token presented to the service: the user's own (default: $JUPYTERHUB_API_TOKEN).",
    )

    @default("token")
    def _default_token(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    request_timeout = Float(
        30.0, min=1.0, config=True, help="Seconds to wait for one request to the service."
    )
    follow_timeout = Float(
        86400.0,
        min=10.0,
        config=True,
        help="Longest single follow of a job's logs before it is opened again.",
    )
    poll_interval = Float(
        1.0,
        min=0.1,
        config=True,
        help="Seconds between job state reads while a WebSocket client follows the job.",
    )
    retry_delay = Float(
        2.0, min=0.1, config=True, help="Seconds before following a job's logs again."
    )
    max_events = Int(
        20000, min=100, config=True, help="Events kept per followed job for clients to resume."
    )
    idle_seconds = Float(
        120.0,
        min=0.0,
        config=True,
        help="How long a job's event feed lives on after its last WebSocket client left.",
    )

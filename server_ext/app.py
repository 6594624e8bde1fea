"""The ExtensionApp that wires accelhub's handlers into Jupyter Server."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool

from hub_ext._version import __version__

from .handlers.health import HealthHandler


class AccelhubExtension(ExtensionApp):
    """Serves accelhub's REST API under ``/accelhub/api``."""

    name = "server_ext"
    description = "accelhub: GPU telemetry for Jupyter Server"
    extension_url = "/lab"
    load_other_extensions = True
    version = __version__

    telemetry_enabled = Bool(
        True, config=True, help="Serve GPU telemetry (needs nothing but nvidia-ml-py)."
    )

    def initialize_handlers(self) -> None:
        """Register the extension's routes."""
        self.handlers.extend([(r"/accelhub/api/health", HealthHandler)])

    def features(self) -> dict[str, bool]:
        """Which optional features this server offers."""
        return {"telemetry": self.telemetry_enabled}

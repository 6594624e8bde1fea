"""The ExtensionApp that wires accelhub's handlers into Jupyter Server."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool

from hub_ext._version import __version__

from .handlers.health import HealthHandler
from .offload.routes import register_offload, stop_offload
from .telemetry import register_telemetry, stop_telemetry


class AccelhubExtension(ExtensionApp):
    """Serves accelhub's REST API under ``/accelhub/api``."""

    name = "server_ext"
    description = "accelhub: GPU telemetry and remote offload for Jupyter Server"
    extension_url = "/lab"
    load_other_extensions = True
    version = __version__

    telemetry_enabled = Bool(
        True, config=True, help="Serve GPU telemetry (needs nothing but nvidia-ml-py)."
    )

    offload_enabled = Bool(
        True,
        config=True,
        help="Serve the offload API (sends notebooks to remote sites through the hub service).",
    )

    def initialize_handlers(self) -> None:
        """Register the extension's routes."""
        self.handlers.extend([(r"/accelhub/api/health", HealthHandler)])
        if self.telemetry_enabled:
            register_telemetry(self)
        if self.offload_enabled:
            register_offload(self)

    async def stop_extension(self) -> None:
        """Stop background work: the telemetry sampler, activity reports, offload feeds."""
        await stop_telemetry(self)
        await stop_offload(self)

    def features(self) -> dict[str, bool]:
        """Which optional features this server offers."""
        return {"telemetry": self.telemetry_enabled, "offload": self.offload_enabled}

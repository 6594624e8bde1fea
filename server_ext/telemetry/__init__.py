"""GPU telemetry for the accelhub server extension: one NVML sampler, REST, WebSocket, metrics.

See ``README.md`` in this package for the API shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tornado.ioloop import IOLoop

from .service import SETTINGS_KEY, Telemetry

if TYPE_CHECKING:
    from jupyter_server.extension.application import ExtensionApp

__all__ = [
    "SETTINGS_KEY",
    "Telemetry",
    "register_telemetry",
    "stop_telemetry",
    "telemetry_handlers",
]


def telemetry_handlers() -> list[tuple[str, Any]]:
    """The telemetry routes (imported lazily: the sampler does not need jupyter_server)."""
    from .handlers import HistoryHandler, MetricsHandler, SnapshotHandler, StreamHandler

    return [
        (r"/accelhub/api/telemetry", SnapshotHandler),
        (r"/accelhub/api/telemetry/history", HistoryHandler),
        (r"/accelhub/api/telemetry/stream", StreamHandler),
        (r"/accelhub/metrics/gpu", MetricsHandler),
    ]


def register_telemetry(app: ExtensionApp) -> Telemetry:
    """Create the server's telemetry service, publish it to handlers, add its routes."""
    telemetry = Telemetry(parent=app, log=app.log)
    assert app.serverapp is not None
    app.serverapp.web_app.settings[SETTINGS_KEY] = telemetry
    app.handlers.extend(telemetry_handlers())
    IOLoop.current().add_callback(telemetry.start)
    return telemetry


async def stop_telemetry(app: ExtensionApp) -> None:
    """Stop the sampler and activity reports, if telemetry was registered."""
    if app.serverapp is None:
        return
    telemetry = app.serverapp.web_app.settings.get(SETTINGS_KEY)
    if isinstance(telemetry, Telemetry):
        await telemetry.stop()

"""Registers the offload routes in the server extension (imports jupyter_server)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .service import SETTINGS_KEY, Offload

if TYPE_CHECKING:
    from jupyter_server.extension.application import ExtensionApp

JOB = r"(?P<job_id>[A-Za-z0-9_.\-]+)"


def offload_handlers() -> list[tuple[str, Any]]:
    from .handlers import (
        EventsHandler,
        FetchHandler,
        JobHandler,
        JobsHandler,
        RerunHandler,
        SitesHandler,
    )

    base = r"/accelhub/api/offload"
    return [
        (rf"{base}/sites", SitesHandler),
        (rf"{base}/jobs", JobsHandler),
        (rf"{base}/jobs/{JOB}", JobHandler),
        (rf"{base}/jobs/{JOB}/events", EventsHandler),
        (rf"{base}/jobs/{JOB}/fetch", FetchHandler),
        (rf"{base}/jobs/{JOB}/rerun", RerunHandler),
    ]


def register_offload(app: ExtensionApp) -> Offload:
    """Create the server's offload service, publish it to handlers, add its routes."""
    offload = Offload(parent=app, log=app.log)
    assert app.serverapp is not None
    app.serverapp.web_app.settings[SETTINGS_KEY] = offload
    app.handlers.extend(offload_handlers())
    return offload


async def stop_offload(app: ExtensionApp) -> None:
    """Stop the event feeds' followers, if offload was registered."""
    if app.serverapp is None:
        return
    offload = app.serverapp.web_app.settings.get(SETTINGS_KEY)
    if isinstance(offload, Offload):
        await offload.stop()

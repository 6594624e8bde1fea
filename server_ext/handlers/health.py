"""``GET /accelhub/api/health``: version and features, for the frontend and probes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

if TYPE_CHECKING:
    from ..app import AccelhubExtension

AUTH_RESOURCE = "accelhub"


class HealthHandler(ExtensionHandlerMixin, APIHandler):
    """Report the extension version and which features are on."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        app = cast("AccelhubExtension", self.extensionapp)
        self.finish(
            json.dumps({"name": "accelhub", "version": app.version, "features": app.features()})
        )

"""The offload service of one server: its config, the gateway client, the event feeds."""

from __future__ import annotations

import logging

from traitlets.config import Configurable

from .client import GatewayClient
from .config import OffloadConfig
from .events import Feeds

SETTINGS_KEY = "accelhub_offload"


class Offload:
    """Everything the offload handlers share; one per server."""

    def __init__(
        self, parent: Configurable | None = None, log: logging.Logger | None = None
    ) -> None:
        self.config = OffloadConfig(parent=parent)
        self.log = log or logging.getLogger("accelhub.offload")
        self.client = GatewayClient(self.config)
        self.feeds = Feeds(self.client, self.log)

    async def stop(self) -> None:
        await self.feeds.stop()

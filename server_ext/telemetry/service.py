"""The telemetry service of one server: config, the shared sampler, metrics, activity reports."""

from __future__ import annotations

import logging
from typing import Any

from traitlets.config import Configurable

from .activity import ActivityReporter
from .config import TelemetryConfig
from .prometheus import make_registry
from .sampler import Sampler

SETTINGS_KEY = "accelhub_telemetry"


class Telemetry:
    """Everything the telemetry handlers share; one per server."""

    def __init__(
        self, parent: Configurable | None = None, log: logging.Logger | None = None
    ) -> None:
        self.config = TelemetryConfig(parent=parent)
        self.log = log or logging.getLogger("accelhub.telemetry")
        self.sampler = Sampler(self.config, self.log)
        self.registry = make_registry(self._latest)
        self.activity = ActivityReporter(self.sampler, self.config, self.log)

    def _latest(self) -> dict[str, Any] | None:
        return self.sampler.latest.data if self.sampler.latest else None

    def start(self) -> None:
        """Start what runs without clients (activity reports, when configured)."""
        self.activity.start()

    async def stop(self) -> None:
        await self.activity.stop()
        await self.sampler.stop()

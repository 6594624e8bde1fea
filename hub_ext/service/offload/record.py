"""An offload job as the gateway keeps it (the input and result notebooks stay in the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...contract import OPEN_STATES, Job, JobProgress, Provenance


def iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


@dataclass
class JobRecord:
    """One job: who, what, where, and how far it got."""

    id: str
    user: str
    group: str | None
    name: str
    site: str
    site_reason: str
    flavor: str
    count: int
    cell_id: str | None
    setup: str
    parameters: dict[str, Any]
    resources: dict[str, Any]
    image: str
    input_sha256: str
    namespace: str
    pod: str
    submitted_at: datetime
    state: str = "pending"
    reason: str | None = None
    message: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit: str | None = None
    progress: tuple[int, int] | None = None
    energy_wh: float | None = None
    has_result: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """Pending or running."""
        return self.state in OPEN_STATES

    def device_hours(self, now: datetime) -> float:
        """Devices times hours held so far (from start to end, or to now)."""
        if self.started_at is None or not self.count:
            return 0.0
        end = self.ended_at or now
        return self.count * max((end - self.started_at).total_seconds(), 0.0) / 3600

    def to_wire(self) -> Job:
        return Job(
            id=self.id,
            user=self.user,
            name=self.name,
            state=self.state,
            site=self.site,
            flavor=self.flavor,
            reason=self.reason,
            message=self.message,
            site_reason=self.site_reason,
            cell_id=self.cell_id,
            setup=self.setup,
            progress=JobProgress(*self.progress) if self.progress else None,
            provenance=Provenance(
                image=self.image,
                input_sha256=self.input_sha256,
                parameters=self.parameters,
                site=self.site,
                flavor=self.flavor,
                resources=self.resources,
                submitted_at=iso(self.submitted_at),
                started_at=iso(self.started_at),
                finished_at=iso(self.ended_at),
                exit=self.exit,
                site_reason=self.site_reason,
            ),
            energy_wh=self.energy_wh,
            has_result=self.has_result,
        )

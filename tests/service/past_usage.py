"""Past usage written into a running service's store: ended leases and the activity their
servers reported, one per day, so that charts over a window have history to show (a test
cannot wait days). The rows are the store's own models; the service reads them as any other."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from hub_ext.service.store.models import ActivityRow, LeaseRow


@dataclass(frozen=True)
class PastServer:
    """One server that ran for ``hours`` a day, ``days_ago`` each, busy ``busy`` of the time."""

    user: str
    group: str
    flavor: str
    hours: float
    busy: float
    days_ago: tuple[int, ...]


def seed(db_url: str, servers: list[PastServer], now: datetime | None = None) -> None:
    """Write the servers' ended leases and per-10-minute activity into the store."""
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    engine = create_engine(db_url)
    with Session(engine) as session, session.begin():
        for past in servers:
            for ago in past.days_ago:
                start = today - timedelta(days=ago) + timedelta(hours=9)
                end = start + timedelta(hours=past.hours)
                server = f"past-{ago}"
                session.add(
                    LeaseRow(
                        id=secrets.token_hex(8),
                        user=past.user,
                        server=server,
                        flavor=past.flavor,
                        count=1,
                        group=past.group,
                        started_at=start,
                        ended_at=end,
                        end_reason="stopped",
                    )
                )
                samples = int(past.hours * 6)
                busy_samples = round(samples * past.busy)
                for i in range(samples):
                    busy = i < busy_samples
                    session.add(
                        ActivityRow(
                            user=past.user,
                            server=server,
                            timestamp=start + timedelta(minutes=10 * i),
                            devices=1,
                            busy=1 if busy else 0,
                            utilization_avg=85.0 if busy else 0.0,
                            memory_used_bytes=8 << 30,
                            energy_wh=(40.0 if busy else 10.0) / 6,  # W for 10 minutes
                        )
                    )
    engine.dispose()

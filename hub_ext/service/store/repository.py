"""The one way to the database: reads and changes of leases, reservations, the waiting line and
activity. Reads go through SQLAlchemy's AsyncSession (rows mapped to records here); each change
is committed in one Core transaction on the AsyncEngine, shared with the changes other callers
asked for meanwhile (``commits.py``); the ORM's bulk-update bookkeeping would double what a
change costs, for objects nobody keeps."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from ..records import LeaseRecord, LineEntry, ReservationRecord
from .commits import GroupCommit, Step, Write
from .engine import is_sqlite
from .models import ActivityRow, LeaseRow, QueueRow, ReservationRow

# The statements of changes, one object each so that concurrent changes share one executemany;
# an update's SET columns are the parameters other than ``row_id``.
INSERT_LEASE = insert(LeaseRow)
UPDATE_LEASE = update(LeaseRow).where(LeaseRow.id == bindparam("row_id"))
INSERT_ENTRY = insert(QueueRow)
UPDATE_ENTRY = update(QueueRow).where(QueueRow.id == bindparam("row_id"))
INSERT_RESERVATION = insert(ReservationRow)
UPDATE_RESERVATION = update(ReservationRow).where(ReservationRow.id == bindparam("row_id"))
INSERT_ACTIVITY = insert(ActivityRow)
WRITERS = 4  # transactions committing at once on PostgreSQL (SQLite takes one writer)


@dataclass(frozen=True)
class Utilisation:
    """Reported GPU activity of one server over a period."""

    mean: float | None
    busy: int
    devices: int
    energy_wh: float | None = None  # None: no report carried energy


def lease_from_row(row: LeaseRow) -> LeaseRecord:
    return LeaseRecord(
        id=row.id,
        user=row.user,
        server=row.server,
        flavor=row.flavor,
        count=row.count,
        group=row.group,
        reservation_id=row.reservation_id,
        started_at=row.started_at,
        expires_at=row.expires_at,
        namespace=row.namespace,
        pod=row.pod,
        bound_at=row.bound_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        end_message=row.end_message,
    )


def reservation_from_row(row: ReservationRow) -> ReservationRecord:
    return ReservationRecord(
        id=row.id,
        name=row.name,
        group=row.group,
        flavor=row.flavor,
        count=row.count,
        per_member=row.per_member,
        start=row.start,
        end=row.end,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def lease_keys(lease: LeaseRecord) -> tuple[str, str]:
    """The rows a lease's changes touch: the lease, and its server's one active lease."""
    return (f"lease:{lease.id}", f"server:{lease.user}/{lease.server}")


def lease_values(lease: LeaseRecord) -> dict[str, Any]:
    """A lease as a row of the leases table (also the writer baseline's insert)."""
    return {
        "id": lease.id,
        "user": lease.user,
        "server": lease.server,
        "flavor": lease.flavor,
        "count": lease.count,
        "group": lease.group,
        "reservation_id": lease.reservation_id,
        "active_key": f"{lease.user}/{lease.server}",
        "started_at": lease.started_at,
        "expires_at": lease.expires_at,
        "namespace": lease.namespace,
        "pod": lease.pod,
        "bound_at": lease.bound_at,
        "ended_at": None,
        "end_reason": None,
        "end_message": None,
    }


class Repository:
    """Leases, reservations, the waiting line and activity in SQL.

    Every method that changes something returns once its change is committed, in one
    transaction (shared with the changes other callers asked for meanwhile), or raises the
    change's own error, having committed none of it. Changes that touch the same row (a lease,
    a server's active lease, a line entry, a reservation, a job) commit in the order they were
    asked for: the later one waits for the earlier one's commit, as a lease's end waits for its
    start. On SQLite one transaction writes at a time, so its single writer is never contended
    within the service.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        self.commits = GroupCommit(engine, concurrency=1 if is_sqlite(engine) else WRITERS)

    async def write(self, keys: Iterable[str], *steps: Step) -> None:
        """Commit one change: its steps, in order, after earlier changes of the same rows."""
        await self.commits.commit(steps, keys)

    async def settled(self, *keys: str) -> None:
        """Wait until the changes asked for so far of these rows have finished."""
        await self.commits.settled(keys)

    async def close(self) -> None:
        """Commit what is pending (the engine is the caller's to dispose of)."""
        await self.commits.stop()

    # -- what the ledger is rebuilt from -------------------------------------------------

    async def active_leases(self) -> list[LeaseRecord]:
        async with self._reads() as session:
            rows = await session.scalars(select(LeaseRow).where(LeaseRow.ended_at.is_(None)))
            return [lease_from_row(row) for row in rows]

    async def live_reservations(self, now: datetime) -> list[ReservationRecord]:
        query = select(ReservationRow).where(
            ReservationRow.deleted_at.is_(None), ReservationRow.end > now
        )
        async with self._reads() as session:
            return [reservation_from_row(row) for row in await session.scalars(query)]

    async def reservation(self, reservation_id: str) -> ReservationRecord | None:
        """A reservation that was not cancelled, live or ended."""
        query = select(ReservationRow).where(
            ReservationRow.id == reservation_id, ReservationRow.deleted_at.is_(None)
        )
        async with self._reads() as session:
            row = await session.scalar(query)
            return reservation_from_row(row) if row is not None else None

    async def waiting(self) -> list[LineEntry]:
        """Entries still in line, oldest first."""
        query = (
            select(QueueRow)
            .where(QueueRow.left_at.is_(None))
            .order_by(QueueRow.enqueued_at, QueueRow.id)
        )
        async with self._reads() as session:
            return [
                LineEntry(row.id, row.user, row.server, row.flavor, row.count, row.enqueued_at)
                for row in await session.scalars(query)
            ]

    # -- leases --------------------------------------------------------------------------

    async def lease(self, lease_id: str) -> LeaseRecord | None:
        async with self._reads() as session:
            row = await session.get(LeaseRow, lease_id)
            return lease_from_row(row) if row is not None else None

    async def recent_leases(self, user: str | None = None, limit: int = 500) -> list[LeaseRecord]:
        """Leases, newest first, of one user or everyone."""
        query = select(LeaseRow).order_by(LeaseRow.started_at.desc()).limit(limit)
        if user is not None:
            query = query.where(LeaseRow.user == user)
        async with self._reads() as session:
            return [lease_from_row(row) for row in await session.scalars(query)]

    async def start_lease(self, lease: LeaseRecord, served: LineEntry | None = None) -> None:
        """Store a granted lease; the waiting-line entry it serves leaves the line with it."""
        keys = lease_keys(lease) + ((f"queue:{served.id}",) if served else ())
        steps: list[Step] = [Write(INSERT_LEASE, lease_values(lease))]
        if served is not None:
            steps.append(_leave(served.id, lease.started_at, "granted", lease.id))
        await self.write(keys, *steps)

    async def bind_lease(self, lease: LeaseRecord) -> None:
        """Store the pod holding a lease (and its expiry, which binding may lift)."""
        values = {
            "row_id": lease.id,
            "namespace": lease.namespace,
            "pod": lease.pod,
            "bound_at": lease.bound_at,
            "expires_at": lease.expires_at,
        }
        await self.write(lease_keys(lease), Write(UPDATE_LEASE, values))

    async def end_lease(self, lease: LeaseRecord) -> None:
        """Store a lease's end; its server may hold a new lease from then on."""
        values = {
            "row_id": lease.id,
            "ended_at": lease.ended_at,
            "end_reason": lease.end_reason,
            "end_message": lease.end_message,
            "active_key": None,
        }
        await self.write(lease_keys(lease), Write(UPDATE_LEASE, values))

    async def adopt_lease(self, lease: LeaseRecord) -> None:
        """Store a lease found running in the cluster: new, or an ended one made active again."""
        values = lease_values(lease)

        async def insert_or_update(conn: AsyncConnection) -> None:
            found = await conn.execute(select(LeaseRow.id).where(LeaseRow.id == lease.id))
            if found.first() is None:
                await conn.execute(INSERT_LEASE, values)
            else:
                changed = {k: v for k, v in values.items() if k != "id"}
                await conn.execute(UPDATE_LEASE, {**changed, "row_id": lease.id})

        await self.write(lease_keys(lease), insert_or_update)

    # -- the waiting line -------------------------------------------------------------------

    async def enqueue(self, entry: LineEntry) -> None:
        values = {
            "id": entry.id,
            "user": entry.user,
            "server": entry.server,
            "flavor": entry.flavor,
            "count": entry.count,
            "enqueued_at": entry.enqueued_at,
        }
        await self.write([f"queue:{entry.id}"], Write(INSERT_ENTRY, values))

    async def leave_queue(
        self, entry: LineEntry, when: datetime, outcome: str, lease_id: str | None = None
    ) -> None:
        await self.write([f"queue:{entry.id}"], _leave(entry.id, when, outcome, lease_id))

    # -- reservations -----------------------------------------------------------------------

    async def add_reservation(self, res: ReservationRecord, *also: Step) -> None:
        """Store a new reservation (and ``also``, such as its change record, in the same
        transaction)."""
        values = {
            "id": res.id,
            "name": res.name,
            "group": res.group,
            "flavor": res.flavor,
            "count": res.count,
            "per_member": res.per_member,
            "start": res.start,
            "end": res.end,
            "created_by": res.created_by,
            "created_at": res.created_at,
        }
        await self.write([f"reservation:{res.id}"], Write(INSERT_RESERVATION, values), *also)

    async def update_reservation(
        self, res: ReservationRecord, claims: list[LeaseRecord], *also: Step
    ) -> None:
        """Store a reservation's new window, size or name, the new expiry of the leases its
        participants claimed (its end) and ``also``, in one transaction."""
        values = {
            "row_id": res.id,
            "name": res.name,
            "count": res.count,
            "per_member": res.per_member,
            "start": res.start,
            "end": res.end,
        }
        steps: list[Step] = [Write(UPDATE_RESERVATION, values)]
        keys = [f"reservation:{res.id}"]
        for lease in claims:
            steps.append(Write(UPDATE_LEASE, {"row_id": lease.id, "expires_at": lease.expires_at}))
            keys.extend(lease_keys(lease))
        await self.write(keys, *steps, *also)

    async def delete_reservation(self, reservation_id: str, when: datetime, *also: Step) -> None:
        values = {"row_id": reservation_id, "deleted_at": when}
        await self.write(
            [f"reservation:{reservation_id}"], Write(UPDATE_RESERVATION, values), *also
        )

    # -- activity and accounting ------------------------------------------------------------

    async def add_activity(self, values: dict[str, Any]) -> None:
        """Store one activity report (user, server, timestamp, devices, busy, ...)."""
        await self.write((), Write(INSERT_ACTIVITY, values))

    async def last_busy(self) -> list[tuple[str, str, datetime]]:
        """When each server last reported a busy device."""
        query = (
            select(ActivityRow.user, ActivityRow.server, func.max(ActivityRow.timestamp))
            .where(ActivityRow.busy > 0)
            .group_by(ActivityRow.user, ActivityRow.server)
        )
        async with self._reads() as session:
            rows = (await session.execute(query)).all()
        return [(user, server, last) for user, server, last in rows if last is not None]

    async def leases_between(
        self,
        start: datetime,
        end: datetime,
        users: Iterable[str] | None = None,
        groups: Iterable[str] | None = None,
    ) -> list[LeaseRecord]:
        """Leases active at some time in [start, end), of some users or groups."""
        query = select(LeaseRow).where(
            LeaseRow.started_at < end, or_(LeaseRow.ended_at.is_(None), LeaseRow.ended_at > start)
        )
        if users is not None:
            query = query.where(LeaseRow.user.in_(sorted(users)))
        if groups is not None:
            query = query.where(LeaseRow.group.in_(sorted(groups)))
        async with self._reads() as session:
            return [lease_from_row(row) for row in await session.scalars(query)]

    async def utilisation(
        self, start: datetime, end: datetime
    ) -> dict[tuple[str, str], Utilisation]:
        """Per (user, server): mean utilisation and busy/total device samples in the period."""
        query = (
            select(
                ActivityRow.user,
                ActivityRow.server,
                func.avg(ActivityRow.utilization_avg),
                func.sum(ActivityRow.busy),
                func.sum(ActivityRow.devices),
                func.sum(ActivityRow.energy_wh),
            )
            .where(and_(ActivityRow.timestamp >= start, ActivityRow.timestamp < end))
            .group_by(ActivityRow.user, ActivityRow.server)
        )
        async with self._reads() as session:
            rows = (await session.execute(query)).all()
        return {
            (user, server): Utilisation(
                None if mean is None else float(mean),
                int(busy or 0),
                int(devices or 0),
                None if energy is None else float(energy),
            )
            for user, server, mean, busy, devices, energy in rows
        }


def _leave(entry_id: str, when: datetime, outcome: str, lease_id: str | None) -> Write:
    """A waiting-line entry leaving the line."""
    values = {"row_id": entry_id, "left_at": when, "outcome": outcome, "lease_id": lease_id}
    return Write(UPDATE_ENTRY, values)

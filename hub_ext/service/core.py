"""The admission core: decides, books and persists leases, reservations and the waiting line."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from .capacity_sources import CapacitySource, NoCapacity
from .directory import GroupDirectory
from .ledger import WAITABLE, Decision, Grant, Ledger, Refusal, Request, decide, new_id
from .policy import QuotaPolicy
from .records import Capacity, Context, FlavorLike, LeaseRecord, LineEntry, ReservationRecord
from .reservation_book import ReservationBook
from .reservation_rules import ReservationError as ReservationError  # for callers of the core
from .store import Repository
from .timeutil import utcnow

log = logging.getLogger("accelhub.service")


class Observer(Protocol):
    """Told about decisions and lease changes (metrics, placeholders)."""

    def decided(self, decision: Decision, flavor: str, seconds: float) -> None: ...

    def changed(self, flavor: str) -> None: ...


class AdmissionCore(ReservationBook):
    """Owns the ledger; every change goes through here and is committed before it is answered.
    Reservations are created, changed and cancelled by its base, :class:`ReservationBook`."""

    def __init__(
        self,
        store: Repository,
        flavors: Mapping[str, FlavorLike],
        policy: QuotaPolicy,
        directory: GroupDirectory,
        capacity: CapacitySource | None = None,
        retry_hint_seconds: int = 60,
        queue_hold_seconds: int = 600,
        queue_stale_seconds: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        reservation_max_days: float = 366,
    ) -> None:
        self.store = store
        self.flavors = flavors
        self.policy = policy
        self.directory = directory
        self.capacity_source: CapacitySource = capacity or NoCapacity()
        self.retry_hint_seconds = retry_hint_seconds
        self.queue_hold_seconds = queue_hold_seconds
        self.queue_stale_seconds = queue_stale_seconds
        self.clock = clock
        self.reservation_max_days = reservation_max_days
        self.ledger = Ledger()
        self.observers: list[Observer] = []
        self.on_lease_end: list[Callable[[LeaseRecord], Any]] = []
        self.on_reservation_change: list[Callable[[ReservationRecord], None]] = []
        self._pumping: set[str] = set()
        self.member_counts: dict[str, int] = {}

    # -- life cycle -----------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild the ledger from the store (active leases, live reservations, lines)."""
        now = self.clock()
        ledger = Ledger()
        for lease in await self.store.active_leases():
            ledger.add(lease)
        for res in await self.store.live_reservations(now):
            ledger.reservations[res.id] = res
        for entry in await self.store.waiting():
            entry.last_seen = now  # its owner gets queue_stale_seconds from now to ask again
            ledger.enqueue(entry)
        self.ledger = ledger

    # -- context --------------------------------------------------------------------

    async def context(self, user: str, flavor: str | None, now: datetime | None = None) -> Context:
        """Fetch the user's groups, their properties and live reservation sizes."""
        groups = await self.directory.user_groups(user)
        properties: dict[str, dict[str, Any]] = {}
        for name in groups:  # cached lookups: sequential awaits cost less than tasks
            info = await self.directory.group(name)
            if info is not None:
                properties[info.name] = info.properties
        sizes: dict[str, int] = {}
        now = now or self.clock()
        for res in self.ledger.reservations.values():
            if (flavor is None or res.flavor == flavor) and res.active(now):
                sizes[res.id] = await self.reservation_size(res)
        return Context(groups=groups, properties=properties, reservation_sizes=sizes)

    def capacity(self, flavor: str) -> Capacity | None:
        return self.capacity_source.capacity(flavor)

    # -- admission ------------------------------------------------------------------

    async def admit(
        self, user: str, server: str, flavor: str, count: int, wait: bool = False
    ) -> Decision:
        """Decide a request, book and commit a grant, or queue a refusal when asked."""
        started = time.perf_counter()
        now = self.clock()
        ctx = await self.context(user, flavor, now)
        decision = self._decide_and_book(Request(user, server, flavor, count), ctx, now)
        if isinstance(decision, Grant) and decision.reused:
            # Answer only once the lease is stored (its start may still be committing).
            await self.store.settled(f"lease:{decision.lease.id}")
            if decision.lease.id not in self.ledger.leases:  # that start failed
                return await self.admit(user, server, flavor, count, wait)
        elif isinstance(decision, Grant):
            try:
                await self._persist_grant(decision.lease, None)
            except Exception:
                self.ledger.remove(decision.lease.id)
                raise
            self._changed(flavor)
        elif isinstance(decision, Refusal) and wait and decision.reason in WAITABLE:
            stamp = self.ledger.line_stamp(flavor, self.clock())
            entry = LineEntry(new_id(), user, server, flavor, count, stamp, decision.reason, now)
            before = self.ledger.queue_position(flavor, user, server)
            decision.queue_position = self.ledger.enqueue(entry)
            decision.queue_length = len(self.ledger.queue[flavor])
            if before is None:
                await self.store.enqueue(entry)
            self._changed(flavor)
        elif isinstance(decision, Refusal):
            decision.queue_position = self.ledger.queue_position(flavor, user, server)
            if decision.queue_position is not None:
                decision.queue_length = len(self.ledger.queue[flavor])
        for observer in self.observers:
            observer.decided(decision, flavor, time.perf_counter() - started)
        return decision

    def _decide_and_book(
        self, request: Request, ctx: Context, now: datetime | None = None
    ) -> Decision:
        decision = decide(
            self.ledger,
            self.policy,
            self.flavors,
            request,
            ctx,
            self.capacity(request.flavor),
            now or self.clock(),
            self.retry_hint_seconds,
        )
        if isinstance(decision, Grant) and not decision.reused:
            self.ledger.add(decision.lease)
        return decision

    async def _persist_grant(self, lease: LeaseRecord, queue_entry: LineEntry | None) -> None:
        entry = self.ledger.dequeue(lease.flavor, lease.user, lease.server)
        try:
            await self.store.start_lease(lease, entry)
        except Exception:
            if entry is not None:
                self.ledger.queue[entry.flavor].insert(0, entry)
            raise

    async def leave_queue(
        self, user: str, server: str, flavor: str | None = None, outcome: str = "left"
    ) -> bool:
        """Take a server out of line (all flavors when none is given)."""
        left = False
        for slug in [flavor] if flavor else list(self.ledger.queue):
            entry = self.ledger.dequeue(slug, user, server)
            if entry is not None:
                left = True
                await self.store.leave_queue(entry, self.clock(), outcome)
                self._changed(slug)
        return left

    def _stale(self, entry: LineEntry, now: datetime) -> bool:
        """True when the entry's owner stopped asking: its spawner gave up or went away."""
        seen = entry.last_seen or entry.enqueued_at
        return now - seen > timedelta(seconds=self.queue_stale_seconds)

    async def drop_stale(self, flavor: str | None = None) -> int:
        """Drop entries whose owner stopped polling, so no absent user is granted a device."""
        now = self.clock()
        stale = [
            entry
            for slug in ([flavor] if flavor else list(self.ledger.queue))
            for entry in self.ledger.queue.get(slug, ())
            if self._stale(entry, now)
        ]
        for entry in stale:
            await self.leave_queue(entry.user, entry.server, entry.flavor, "abandoned")
            log.info("%s/%s left the %s line: no poll", entry.user, entry.server, entry.flavor)
        return len(stale)

    async def pump(self, flavor: str) -> list[LeaseRecord]:
        """Serve the flavor's waiting line in order while devices allow."""
        if flavor in self._pumping:
            return []
        self._pumping.add(flavor)
        granted: list[LeaseRecord] = []
        try:
            await self.drop_stale(flavor)
            for entry in list(self.ledger.queue.get(flavor, ())):
                if self.ledger.queue_position(flavor, entry.user, entry.server) is None:
                    continue
                ctx = await self.context(entry.user, flavor)
                request = Request(entry.user, entry.server, flavor, entry.count)
                decision = self._decide_and_book(request, ctx)
                if isinstance(decision, Refusal):
                    entry.last_reason = decision.reason
                    if decision.reason in ("capacity", "reservation"):
                        break
                    continue
                if decision.reused:
                    continue
                lease = decision.lease
                if lease.expires_at is None:
                    lease.expires_at = self._hold_until(lease.started_at)
                try:
                    await self._persist_grant(lease, entry)
                except Exception:
                    self.ledger.remove(lease.id)
                    log.exception("could not grant a queued request")
                    break
                granted.append(lease)
                log.info("served %s/%s from the %s line", entry.user, entry.server, flavor)
        finally:
            self._pumping.discard(flavor)
        if granted:
            self._changed(flavor)
        return granted

    def _hold_until(self, start: datetime) -> datetime:
        return start + timedelta(seconds=self.queue_hold_seconds)

    # -- lease changes ---------------------------------------------------------------

    def lease(self, lease_id: str) -> LeaseRecord | None:
        return self.ledger.leases.get(lease_id)

    async def find_lease(self, lease_id: str) -> LeaseRecord | None:
        """An active lease from the ledger, else an ended one from the store."""
        active = self.ledger.leases.get(lease_id)
        if active is not None:
            return active
        return await self.store.lease(lease_id)

    async def bind(self, lease_id: str, namespace: str, pod: str) -> LeaseRecord | None:
        """Record the pod holding a lease; a queue hold turns into an open-ended lease."""
        lease = self.ledger.leases.get(lease_id)
        if lease is None:
            return None
        now = self.clock()
        lease.namespace, lease.pod, lease.bound_at = namespace, pod, now
        if lease.reservation_id is None:
            lease.expires_at = None
        await self.store.bind_lease(lease)
        self._changed(lease.flavor)
        return lease

    async def release(
        self, lease_id: str, reason: str = "released", message: str | None = None
    ) -> LeaseRecord | None:
        """End a lease (idempotent) and serve the line it frees devices for."""
        lease = self.ledger.remove(lease_id)
        if lease is None:
            return None
        now = self.clock()
        lease.ended_at, lease.end_reason, lease.end_message = now, reason, message
        try:
            await self.store.end_lease(lease)
        except Exception:
            self.ledger.add(lease)
            raise
        for hook in self.on_lease_end:
            result = hook(lease)
            if asyncio.iscoroutine(result):
                await result
        self._changed(lease.flavor)
        if self.ledger.queue.get(lease.flavor):
            await self.pump(lease.flavor)
        return lease

    async def adopt(self, lease: LeaseRecord) -> None:
        """Book a lease found running in the cluster with no record (reality wins)."""
        if lease.id in self.ledger.leases:
            return
        old = self.ledger.by_key.get(lease.key)
        if old is not None:
            await self.release(old, "replaced", "A running pod holds another lease.")
        self.ledger.add(lease)
        await self.store.adopt_lease(lease)
        self._changed(lease.flavor)

    async def expire(self) -> list[LeaseRecord]:
        """End leases past their expiry, drop finished reservations, serve the lines."""
        now = self.clock()
        ended = []
        for lease in list(self.ledger.leases.values()):
            if lease.expires_at is not None and lease.expires_at <= now:
                message = (
                    "The hackathon reservation ended."
                    if lease.reservation_id
                    else "The lease was not claimed by a running server in time."
                )
                try:  # one bad lease must not stop expiry for everyone
                    done = await self.release(lease.id, "expired", message)
                except Exception:
                    log.exception("could not expire lease %s", lease.id)
                    continue
                if done is not None:
                    ended.append(done)
        for res in list(self.ledger.reservations.values()):
            if res.end <= now:
                del self.ledger.reservations[res.id]
                self._changed(res.flavor)
        await self.drop_stale()
        for flavor in list(self.ledger.queue):
            if self.ledger.queue[flavor]:
                await self.pump(flavor)
        return ended

    def _changed(self, flavor: str) -> None:
        for observer in self.observers:
            observer.changed(flavor)

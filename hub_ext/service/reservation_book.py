"""The admission core's reservations: create, extend or shrink, and cancel them, each change
in the ledger and the store together (one transaction, with its change record), checked
against the same rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from .directory import GroupDirectory
from .ledger import Ledger, new_id
from .records import Capacity, FlavorLike, LeaseRecord, ReservationRecord
from .reservation_rules import ReservationError, check_change, check_request, check_room
from .store import Repository
from .store.reservation_changes import ReservationChange


class ReservationBook:
    """Reservations of :class:`~hub_ext.service.core.AdmissionCore` (a base class of it)."""

    store: Repository
    flavors: Mapping[str, FlavorLike]
    directory: GroupDirectory
    ledger: Ledger
    clock: Callable[[], datetime]
    reservation_max_days: float
    member_counts: dict[str, int]
    # Told each reservation created, changed or cancelled (placeholders follow it at once).
    on_reservation_change: list[Callable[[ReservationRecord], None]]

    if TYPE_CHECKING:  # the admission core's own

        def capacity(self, flavor: str) -> Capacity | None: ...

        def _changed(self, flavor: str) -> None: ...

        async def pump(self, flavor: str) -> list[LeaseRecord]: ...

    def _reservation_changed(self, res: ReservationRecord) -> None:
        self._changed(res.flavor)
        for hook in self.on_reservation_change:
            hook(res)

    async def reservation_size(self, reservation: ReservationRecord) -> int:
        if not reservation.per_member:
            return int(reservation.count or 0)
        group = await self.directory.group(reservation.group)
        members = len(group.users) if group else 0
        self.member_counts[reservation.group] = members
        return members

    async def _check_room(self, res: ReservationRecord, size: int) -> None:
        """Refuse a reservation that does not fit beside the others overlapping its window."""
        cap = self.capacity(res.flavor)
        if cap is None:
            return
        overlapping = 0
        for other in self.ledger.reservations.values():
            if (
                other.id != res.id
                and other.flavor == res.flavor
                and other.start < res.end
                and res.start < other.end
            ):
                overlapping += await self.reservation_size(other)
        check_room(res.flavor, cap.total, overlapping, size)

    async def create_reservation(
        self,
        name: str,
        group: str,
        flavor: str,
        count: int | None,
        per_member: bool,
        start: datetime,
        end: datetime,
        created_by: str,
    ) -> ReservationRecord:
        """Hold devices for a group's members during a window."""
        check_request(
            self.flavors,
            flavor,
            count,
            per_member,
            start,
            end,
            self.clock(),
            self.reservation_max_days,
        )
        if await self.directory.group(group) is None:
            raise ReservationError(f"There is no group called {group!r}.")
        res = ReservationRecord(
            id=new_id(),
            name=name or f"{group} {flavor}",
            group=group,
            flavor=flavor,
            count=None if per_member else count,
            per_member=per_member,
            start=start,
            end=end,
            created_by=created_by,
            created_at=self.clock(),
        )
        await self._check_room(res, await self.reservation_size(res))
        self.ledger.reservations[res.id] = res
        record = ReservationChange.of(created_by, res.created_at, None, res)
        try:
            await self.store.add_reservation(res, record.write())
        except Exception:
            del self.ledger.reservations[res.id]
            raise
        self._reservation_changed(res)
        return res

    async def update_reservation(
        self,
        reservation_id: str,
        name: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        count: int | None = None,
        per_member: bool | None = None,
        *,
        by: str,
    ) -> ReservationRecord | None:
        """Extend or shrink a live reservation (what is None stays), recorded as ``by``'s change;
        the leases its participants claimed end with it. None when there is no such live
        reservation."""
        old = self.ledger.reservations.get(reservation_id)
        if old is None:
            return None
        if count is not None and per_member:
            raise ReservationError("Give either a device count or per-member, not both.")
        if count is not None:
            per_member = False
        new = dataclasses.replace(
            old,
            name=name or old.name,
            start=start or old.start,
            end=end or old.end,
            per_member=old.per_member if per_member is None else per_member,
            count=None if per_member else (count or old.count),
        )
        now = self.clock()
        claimed = self.ledger.res_claimed.get(old.id, 0)
        size = await self.reservation_size(new)
        check_change(now, old.end, new.start, size, claimed)
        check_request(
            self.flavors,
            new.flavor,
            new.count,
            new.per_member,
            new.start,
            new.end,
            now,
            self.reservation_max_days,
        )
        await self._check_room(new, size)
        claims = [lease for lease in self.ledger.leases.values() if lease.reservation_id == old.id]
        self.ledger.reservations[old.id] = new
        for lease in claims:
            lease.expires_at = new.end
        record = ReservationChange.of(by, now, old, new)
        try:
            await self.store.update_reservation(new, claims, record.write())
        except Exception:
            self.ledger.reservations[old.id] = old
            for lease in claims:
                lease.expires_at = old.end
            raise
        self._reservation_changed(new)
        await self.pump(new.flavor)  # a smaller or later reservation may free devices
        return new

    async def delete_reservation(self, reservation_id: str, *, by: str) -> ReservationRecord | None:
        """Cancel a live reservation, recorded as ``by``'s change; None when there is none."""
        res = self.ledger.reservations.pop(reservation_id, None)
        if res is None:
            return None
        now = self.clock()
        try:
            await self.store.delete_reservation(
                reservation_id, now, ReservationChange.of(by, now, res, None).write()
            )
        except Exception:
            self.ledger.reservations[reservation_id] = res
            raise
        self._reservation_changed(res)
        await self.pump(res.flavor)
        return res

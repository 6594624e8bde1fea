"""The record of reservation changes in SQL: each written in the same transaction as the change
of the reservation itself (``ReservationBook``), read back for the organiser and admin pages."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from ..records import ReservationRecord
from ..timeutil import iso
from .commits import Write
from .json_text import table_of, text_of
from .models import ReservationChangeRow
from .repository import Repository

INSERT_CHANGE = insert(ReservationChangeRow)
# What the pages list of a change, in this order (``size`` from ``count`` and ``per_member``).
SHOWN = ("name", "flavor", "start", "end", "size")


def snapshot(res: ReservationRecord) -> dict[str, Any]:
    """What the record keeps of a reservation (times as ISO 8601 in UTC)."""
    return {
        "name": res.name,
        "flavor": res.flavor,
        "start": iso(res.start),
        "end": iso(res.end),
        "count": res.count,
        "per_member": res.per_member,
    }


@dataclass(frozen=True)
class ReservationChange:
    """Who created, changed or cancelled a reservation, when, from what to what (None before a
    creation and after a cancel)."""

    reservation_id: str
    group: str
    action: str  # created, changed, cancelled
    changed_by: str
    changed_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(
        cls,
        by: str,
        when: datetime,
        before: ReservationRecord | None,
        after: ReservationRecord | None,
    ) -> ReservationChange:
        res = after or before
        assert res is not None
        action = "created" if before is None else "cancelled" if after is None else "changed"
        return cls(
            reservation_id=res.id,
            group=res.group,
            action=action,
            changed_by=by,
            changed_at=when,
            before=snapshot(before) if before else None,
            after=snapshot(after) if after else None,
        )

    @property
    def name(self) -> str:
        """The reservation's name after the change (before it, for a cancel)."""
        return str((self.after or self.before or {}).get("name", ""))

    def differences(self) -> list[tuple[str, Any, Any]]:
        """(field, before, after) of each field in ``SHOWN`` that a change altered."""
        if self.before is None or self.after is None:
            return []
        old, new = shown(self.before), shown(self.after)
        return [(key, old[key], new[key]) for key in SHOWN if old[key] != new[key]]

    def write(self) -> Write:
        """The statement that records this change, for the reservation's own transaction."""
        values = {
            "reservation_id": self.reservation_id,
            "group": self.group,
            "action": self.action,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at,
            "before": text_of(self.before),
            "after": text_of(self.after),
        }
        return Write(INSERT_CHANGE, values)


def size_text(state: dict[str, Any]) -> str:
    """A recorded reservation's size in words."""
    if state.get("per_member"):
        return "one device per member"
    count = state.get("count")
    return f"{count} device" + ("" if count == 1 else "s")


def shown(state: dict[str, Any]) -> dict[str, Any]:
    """The fields in ``SHOWN`` of a recorded reservation."""
    return {**{key: state.get(key) for key in SHOWN}, "size": size_text(state)}


class ReservationChanges:
    """Reads of the record of reservation changes (appended to, never changed)."""

    def __init__(self, repository: Repository) -> None:
        self.repo = repository

    async def recent(
        self, groups: Collection[str] | None = None, limit: int = 50
    ) -> list[ReservationChange]:
        """The latest changes (of these groups' reservations; None: every group), newest first."""
        if groups is not None and not groups:
            return []
        query = select(ReservationChangeRow)
        if groups is not None:
            query = query.where(ReservationChangeRow.group.in_(sorted(groups)))
        query = query.order_by(
            ReservationChangeRow.changed_at.desc(), ReservationChangeRow.id.desc()
        ).limit(limit)
        async with self.repo._reads() as session:
            return [
                ReservationChange(
                    reservation_id=row.reservation_id,
                    group=row.group,
                    action=row.action,
                    changed_by=row.changed_by,
                    changed_at=row.changed_at,
                    before=table_of(row.before),
                    after=table_of(row.after),
                )
                for row in await session.scalars(query)
            ]

"""REST handlers: hackathon reservations (admins any group, organisers their own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..contract import Participant, ReservationChange, ReservationRequest
from . import views
from .base import APIError, APIHandler
from .reservation_rules import ReservationConflict, ReservationError
from .timeutil import parse_time


def when(text: str) -> datetime:
    """An ISO 8601 timestamp, or a 422 sentence."""
    try:
        return parse_time(text)
    except (ValueError, OverflowError):
        raise APIError(422, "Give 'start' and 'end' as ISO 8601 timestamps.") from None


def refused(error: ReservationError) -> APIError:
    """409 for a clash with what exists (devices, claims, an ended window), else 422."""
    return APIError(409 if isinstance(error, ReservationConflict) else 422, str(error))


class ReservationsHandler(APIHandler):
    async def visible(self) -> list[Any]:
        principal = self.need_principal()
        reservations = list(self.core.ledger.reservations.values())
        if principal.admin or principal.admit:
            return reservations
        groups = set(await self.core.directory.user_groups(principal.name))
        return [r for r in reservations if principal.organises(r.group) or r.group in groups]

    async def get(self) -> None:
        group = self.get_argument("group", None)
        found = [r for r in await self.visible() if group is None or r.group == group]
        found.sort(key=lambda r: (r.start, r.id))
        shown = [(await views.reservation(self.core, r)).to_json() for r in found]
        self.write_json({"reservations": shown})

    async def post(self) -> None:
        principal = self.need_principal()
        ask = self.body_as(ReservationRequest)
        if not principal.organises(ask.group):
            raise self.forbid(f"You do not organise the group {ask.group!r}.")
        start, end = when(ask.start), when(ask.end)
        try:
            res = await self.core.create_reservation(
                ask.name,
                ask.group,
                ask.flavor,
                ask.count,
                ask.per_member,
                start,
                end,
                principal.name,
            )
        except ReservationError as error:
            raise refused(error) from None
        self.write_json((await views.reservation(self.core, res)).to_json(), status=201)


class ReservationHandler(APIHandler):
    async def get(self, reservation_id: str) -> None:
        principal = self.need_principal()
        res = self.core.ledger.reservations.get(reservation_id)
        groups = set(await self.core.directory.user_groups(principal.name))
        if res is None or not (
            principal.admin or principal.organises(res.group) or res.group in groups
        ):
            raise APIError(404, "There is no such reservation.")
        participants = None
        if principal.organises(res.group):
            info = await self.core.directory.group(res.group)
            claimed = {
                lease.user: lease.id
                for lease in self.core.ledger.leases.values()
                if lease.reservation_id == res.id
            }
            participants = [
                Participant(user, claimed.get(user)) for user in (info.users if info else [])
            ]
        self.write_json((await views.reservation(self.core, res, participants)).to_json())

    async def patch(self, reservation_id: str) -> None:
        principal = self.need_principal()
        res = self.core.ledger.reservations.get(reservation_id)
        if res is None or res.end <= self.core.clock():  # ended: only its organisers learn so
            res = res or await self.core.store.reservation(reservation_id)
            if res is None or not principal.organises(res.group):
                raise APIError(404, "There is no such reservation.")
            raise APIError(409, "The reservation has ended; it can no longer change.")
        if not principal.organises(res.group):
            raise self.forbid(f"You do not organise the group {res.group!r}.")
        ask = self.body_as(ReservationChange)
        start = when(ask.start) if ask.start is not None else None
        end = when(ask.end) if ask.end is not None else None
        try:
            changed = await self.core.update_reservation(
                reservation_id,
                ask.name,
                start,
                end,
                ask.count,
                ask.per_member,
                by=principal.name,
            )
        except ReservationError as error:
            raise refused(error) from None
        if changed is None:  # ended while the change was checked
            raise APIError(409, "The reservation has ended; it can no longer change.")
        self.write_json((await views.reservation(self.core, changed)).to_json())

    async def delete(self, reservation_id: str) -> None:
        principal = self.need_principal()
        res = self.core.ledger.reservations.get(reservation_id)
        if res is None:
            raise APIError(404, "There is no such reservation.")
        if not principal.organises(res.group):
            raise self.forbid(f"You do not organise the group {res.group!r}.")
        await self.core.delete_reservation(reservation_id, by=principal.name)
        self.set_status(204)
        self.finish()

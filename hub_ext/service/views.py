"""What the API and the pages show of the ledger, as wire types of the contract."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .. import contract as wire
from .ledger import Grant, Refusal, Request, _limits_for_user, decide
from .records import Context, ReservationRecord
from .timeutil import iso

if TYPE_CHECKING:
    from .core import AdmissionCore


async def entitlements(core: AdmissionCore, user: str) -> wire.Entitlements:
    """Per flavor: may the user start one now, and what is in use."""
    ctx = await core.context(user, None)
    now = core.clock()
    result: dict[str, wire.Entitlement] = {}
    for slug in core.flavors:
        decision = decide(
            core.ledger,
            core.policy,
            core.flavors,
            Request(user, "\0entitlements", slug, 1),
            ctx,
            core.capacity(slug),
            now,
            core.retry_hint_seconds,
        )
        user_cap, remaining = _limits_view(core, slug, ctx)
        reservation = None
        for res in core.ledger.active_reservations(slug, now):
            if res.group in ctx.groups:
                size = ctx.reservation_sizes.get(res.id, 0)
                reservation = wire.ReservationRef(
                    id=res.id,
                    name=res.name,
                    group=res.group,
                    ends_at=iso(res.end),
                    unclaimed=core.ledger.unclaimed(res, size),
                )
                break
        positions = [e for e in core.ledger.queue.get(slug, ()) if e.user == user]
        result[slug] = wire.Entitlement(
            allowed=isinstance(decision, Grant),
            reason=decision.reason if isinstance(decision, Refusal) else None,
            message=decision.message if isinstance(decision, Refusal) else None,
            user_in_use=core.ledger.user_holds(user, slug, core.policy.per_user_scope),
            user_cap=user_cap,
            group_quota_remaining=remaining,
            reservation=reservation,
            queue_position=(
                core.ledger.queue_position(slug, user, positions[0].server) if positions else None
            ),
        )
    return wire.Entitlements(result)


def _limits_view(core: AdmissionCore, slug: str, ctx: Context) -> tuple[int | None, int | None]:
    groups, default = _limits_for_user(core.policy, slug, ctx)
    candidates = groups if groups else ([("", default)] if default else [])
    if not candidates:
        return 0, 0
    caps = [lim.per_user for _, lim in candidates]
    cap = None if any(c is None for c in caps) else max(c for c in caps if c is not None)
    remaining: int | None = 0
    for group, limits in candidates:
        if limits.devices is None:
            remaining = None
            break
        used = core.ledger.group_used.get((group, slug), 0)
        remaining = max(remaining or 0, limits.devices - used)
    return cap, remaining


def queue_entries(
    core: AdmissionCore, flavor: str | None = None, user: str | None = None
) -> list[wire.QueueEntry]:
    """Entries of the waiting lines (of one flavor, of one user), in line order."""
    rows = []
    for slug, line in core.ledger.queue.items():
        if flavor and slug != flavor:
            continue
        for index, entry in enumerate(line):
            if user and entry.user != user:
                continue
            rows.append(
                wire.QueueEntry(
                    id=entry.id,
                    user=entry.user,
                    server=entry.server,
                    flavor=slug,
                    count=entry.count,
                    position=index + 1,
                    enqueued_at=iso(entry.enqueued_at) or "",
                    waiting_for=entry.last_reason,
                )
            )
    return rows


async def reservation(
    core: AdmissionCore, res: ReservationRecord, participants: list[wire.Participant] | None = None
) -> wire.Reservation:
    """A reservation with its size and claims now (and its participants, for organisers)."""
    members = await core.reservation_size(res)
    size = res.size(members)
    claimed = core.ledger.res_claimed.get(res.id, 0)
    active = res.active(core.clock())
    view = wire.Reservation(
        id=res.id,
        name=res.name,
        group=res.group,
        flavor=res.flavor,
        count=res.count,
        per_member=res.per_member,
        start=iso(res.start) or "",
        end=iso(res.end) or "",
        created_by=res.created_by,
        created_at=iso(res.created_at),
        active=active,
        size=size,
        claimed=claimed,
        unclaimed=max(size - claimed, 0) if active else 0,
    )
    return replace(view, participants=participants) if participants is not None else view

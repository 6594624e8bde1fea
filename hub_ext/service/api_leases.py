"""REST handlers: admissions, leases, entitlements and the waiting line."""

from __future__ import annotations

import re
from typing import Any

from ..contract import AdmissionRequest, BindRequest, Granted, Queue
from . import views
from .base import APIError, APIHandler
from .ledger import Grant
from .records import LeaseRecord
from .shape import lease_json, wire_lease

MAX_DEVICES = 64
LEASE_ID = re.compile(r"[A-Za-z0-9._-]{1,63}")


def check_count(slug: str, resource: str | None, count: int) -> None:
    """A 422 sentence unless ``count`` suits the flavor: 0 without a device, else 1..64."""
    if resource is None and count != 0:
        raise APIError(
            422, f"The flavor {slug!r} has no accelerator, so 'count' must be 0, not {count}."
        )
    if resource is not None and not 1 <= count <= MAX_DEVICES:
        raise APIError(
            422, f"The flavor {slug!r} takes a 'count' between 1 and {MAX_DEVICES}, not {count}."
        )


class LeaseMixin(APIHandler):
    def lease_body(self, lease: LeaseRecord) -> dict[str, Any]:
        return lease_json(
            lease, self.app.reserved_priority_class, self.app.lease_priority_class or None
        )

    def need_admit(self) -> None:
        principal = self.need_principal()
        if not (principal.admit or principal.admin):
            raise self.forbid("Only the spawner (scope custom:accelhub:admit) may do this.")

    async def may_see_user(self, user: str) -> bool:
        principal = self.need_principal()
        if principal.admin or principal.admit or principal.is_user(user):
            return True
        if principal.organiser:
            groups = await self.core.directory.user_groups(user)
            return principal.organises_any(groups)
        return False


class AdmissionsHandler(LeaseMixin):
    async def post(self) -> None:
        self.need_admit()
        ask = self.body_as(AdmissionRequest)
        known = self.core.flavors.get(ask.flavor)
        count = ask.count
        if count is None:
            count = 1 if known is None or known.resource else 0
        if known is not None:
            check_count(ask.flavor, known.resource, count)
        decision = await self.core.admit(ask.user, ask.server, ask.flavor, count, ask.wait)
        if isinstance(decision, Grant):
            lease = wire_lease(
                decision.lease,
                self.app.reserved_priority_class,
                self.app.lease_priority_class or None,
            )
            self.write_json(Granted(lease).to_json())
        else:
            self.write_json(decision.to_json())


class LeasesHandler(LeaseMixin):
    async def get(self) -> None:
        principal = self.need_principal()
        user = self.get_argument("user", None)
        active_only = self.get_argument("active", "true").lower() != "false"
        if user is not None and not await self.may_see_user(user):
            raise self.forbid("You may only see your own leases.")
        if user is None and not (principal.admin or principal.admit):
            user = principal.name
        if active_only:
            leases = [
                lease
                for lease in self.core.ledger.leases.values()
                if user is None or lease.user == user
            ]
        else:
            leases = await self.core.store.recent_leases(user)
        self.write_json({"leases": [self.lease_body(lease) for lease in leases]})


def lease_id_ok(lease_id: str) -> bool:
    """Whether a path segment can be a lease id (a label value: 63 characters at most)."""
    return LEASE_ID.fullmatch(lease_id) is not None


class LeaseHandler(LeaseMixin):
    """One lease. Callers who may not see it get the answer of an unknown id (no oracle)."""

    async def get(self, lease_id: str) -> None:
        self.need_principal()
        lease = await self.core.find_lease(lease_id) if lease_id_ok(lease_id) else None
        if lease is None or not await self.may_see_user(lease.user):
            raise APIError(404, "There is no such lease.")
        self.write_json(self.lease_body(lease))

    async def delete(self, lease_id: str) -> None:
        principal = self.need_principal()
        lease = self.core.lease(lease_id)
        if not (principal.admit or principal.admin):
            if lease is None or not principal.is_user(lease.user):
                raise APIError(404, "You hold no active lease with that id.")
            if lease.pod:
                # The device is in use until the pod ends: forgetting the lease would let
                # someone else be admitted to it.
                raise APIError(
                    409,
                    f"This lease belongs to your running server (pod {lease.pod}); stop the "
                    "server to free its devices.",
                )
        if lease is not None:
            await self.core.release(lease_id, "released")
        self.set_status(204)
        self.finish()


class BindHandler(LeaseMixin):
    async def post(self, lease_id: str) -> None:
        self.need_admit()
        where = self.body_as(BindRequest)
        lease = await self.core.bind(lease_id, where.namespace, where.pod)
        if lease is None:
            raise APIError(404, "There is no active lease with that id.")
        self.write_json(self.lease_body(lease))


class EntitlementsHandler(LeaseMixin):
    async def get(self, user: str) -> None:
        if not await self.may_see_user(user):
            raise self.forbid("You may only see your own entitlements.")
        self.write_json((await views.entitlements(self.core, user)).to_json())


class QueueHandler(LeaseMixin):
    async def get(self) -> None:
        principal = self.need_principal()
        flavor = self.get_argument("flavor", None)
        everyone = principal.admin or principal.admit
        entries = views.queue_entries(self.core, flavor, None if everyone else principal.name)
        lines = {slug: len(line) for slug, line in self.core.ledger.queue.items() if line}
        self.write_json(Queue(lines, entries).to_json())

    async def delete(self) -> None:
        principal = self.need_principal()
        user = self.get_argument("user", principal.name)
        server = self.get_argument("server", "")
        flavor = self.get_argument("flavor", None)
        if not (principal.admin or principal.admit or principal.is_user(user)):
            raise self.forbid("You may only leave the line yourself.")
        await self.core.leave_queue(user, server, flavor)
        self.set_status(204)
        self.finish()

"""One spawn's way to a lease: ask, wait in line when the user chose to, leave the line
however the wait ends (grant, refusal, timeout, stop)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from ..admission import AdmissionPolicy, AdmissionUnavailable, LeaseDecision
from .errors import SpawnRefused
from .options import Selection
from .pending import WAIT_CURES, refusal, timeout_message

REFUSAL_STATUS = {
    "quota": 403,
    "user_cap": 403,
    "not_allowed": 403,
    "reservation": 403,
    "unknown_flavor": 400,
    "capacity": 503,
}


_UNINTERRUPTIBLE: set[asyncio.Future[None]] = set()


async def uninterruptible(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even if the caller is cancelled meanwhile (the caller still
    sees its CancelledError; ``work`` goes on in the background)."""
    task = asyncio.ensure_future(work)
    _UNINTERRUPTIBLE.add(task)
    task.add_done_callback(_UNINTERRUPTIBLE.discard)
    await asyncio.shield(task)


async def give_back(
    policy: AdmissionPolicy,
    request: asyncio.Future[LeaseDecision],
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> None:
    """Release the lease an abandoned ``request`` grants, once it is answered."""

    async def finish() -> None:
        try:
            decision = await request
        except BaseException:  # a failed or cancelled request granted nothing
            return
        if decision.granted and decision.lease_id:
            log.info("releasing lease %s granted to a stopped spawn", decision.lease_id)
            await release_quietly(policy, decision.lease_id, log)

    await uninterruptible(finish())


async def release_quietly(
    policy: AdmissionPolicy,
    lease_id: str,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> None:
    """Release ``lease_id``; a service that cannot be reached is logged, not raised (its
    reconcile ends an unbound lease after ``KubeCluster.bind_grace_seconds``)."""
    try:
        await policy.release_lease(lease_id)
    except AdmissionUnavailable as err:
        log.warning("could not release lease %s: %s", lease_id, err)


class LeaseRequest:
    """Asks ``policy`` for a lease for ``user``'s ``server``; ``refusal`` and ``in_line``
    tell the progress messages where the request stands."""

    def __init__(
        self,
        policy: AdmissionPolicy,
        user: str,
        groups: list[str],
        server: str,
        selection: Selection,
        may_wait: bool,
        poll_seconds: float,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.policy = policy
        self.user, self.groups, self.server = user, groups, server
        self.selection = selection
        self.may_wait = may_wait  # the hub lets users wait in line
        self.wait = may_wait and selection.wait and selection.flavor.accelerated
        self.poll_seconds = poll_seconds
        self.log = log
        self.refusal: LeaseDecision | None = None
        self.in_line = False

    async def run(self, deadline: float) -> LeaseDecision:
        """The granted lease; a SpawnRefused with a sentence when refused or out of time."""
        flavor = self.selection.flavor
        began = time.monotonic()
        try:
            while True:
                decision = await self._ask()
                if decision.granted:
                    self.refusal, self.in_line = None, False
                    return decision
                self.refusal = decision
                self.in_line = bool(self.wait and decision.queue_position)
                message = refusal(flavor, decision)
                if not self.in_line:
                    raise self._refused(decision, message)
                if time.monotonic() + self.poll_seconds >= deadline:
                    waited = time.monotonic() - began
                    raise SpawnRefused(
                        timeout_message(flavor, self.selection.count, waited, message, None),
                        reason="timeout",
                        status_code=503,
                    )
                await asyncio.sleep(self.poll_seconds)
        except BaseException:
            if self.wait:
                await self.leave()
            raise

    def _refused(self, decision: LeaseDecision, message: str) -> SpawnRefused:
        can_wait = decision.reason in WAIT_CURES and self.selection.flavor.accelerated
        return SpawnRefused(
            message,
            reason=decision.reason or "capacity",
            status_code=REFUSAL_STATUS.get(decision.reason or "", 403),
            can_wait=can_wait and not self.wait and self.may_wait,
        )

    async def _ask(self) -> LeaseDecision:
        flavor = self.selection.flavor
        request = asyncio.ensure_future(
            self.policy.request_lease(
                self.user, self.groups, self.server, flavor, self.selection.count, self.wait
            )
        )
        try:
            return await asyncio.shield(request)
        except asyncio.CancelledError:
            # Stopped while the service was deciding: it may grant after we stop listening,
            # so finish the request and give back whatever it grants.
            await give_back(self.policy, request, self.log)
            raise
        except AdmissionUnavailable as err:
            raise SpawnRefused(
                f"Cannot start {flavor.display_name}: {err}",
                reason="admission_unavailable",
                status_code=503,
            ) from None

    async def leave(self) -> None:
        """Leave every waiting line (idempotent; on failure the service drops the entry by
        itself once nobody asks about it)."""
        self.in_line = False
        try:
            await self.policy.leave_queue(self.user, self.server)
        except AdmissionUnavailable as err:
            self.log.warning("could not leave the line for %s/%s: %s", self.user, self.server, err)

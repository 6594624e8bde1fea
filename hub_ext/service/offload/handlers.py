"""REST handlers of the offload API: find the job, check the caller, act through the gateway,
answer with the contract's types."""

from __future__ import annotations

import asyncio
import contextlib

from kubernetes_asyncio.client.exceptions import ApiException

from ...contract import Accelerator, Automatic, JobRequest, Jobs, OffloadFlavor, Sites
from ...flavors import Flavor
from ..auth import OFFLOAD, Principal
from ..base import APIError, APIHandler
from .gateway import GatewayError, OffloadGateway, job_count
from .record import JobRecord
from .tracker import JobTracker


class OffloadHandler(APIHandler):
    @property
    def gateway(self) -> OffloadGateway:
        gateway = self.app.gateway
        if gateway is None:
            raise APIError(404, "Offload is not enabled on this hub (the service has no cluster).")
        return gateway

    @property
    def tracker(self) -> JobTracker:
        return self.app.tracker

    def caller(self) -> Principal:
        principal = self.need_principal()
        if not (principal.offload or principal.admin):
            raise self.forbid(f"Offloading needs the {OFFLOAD} scope, which this token lacks.")
        return principal

    async def find(self, job_id: str) -> JobRecord:
        principal = self.caller()
        try:
            return await self.gateway.job(job_id, principal.name, principal.admin)
        except GatewayError as error:
            raise APIError(error.status, error.message) from None


def offload_flavor(flavor: Flavor) -> OffloadFlavor:
    """A catalog flavor as the offload dialog lists it."""
    count = job_count(flavor)
    accelerator = Accelerator(flavor.resource, count) if flavor.resource and count else None
    return OffloadFlavor(flavor.slug, flavor.display_name, accelerator)


class SitesHandler(OffloadHandler):
    """The sites, the flavors the caller may use and, for ``?flavor=``, Automatic's pick."""

    async def get(self) -> None:
        principal = self.caller()
        gateway = self.gateway
        access = await gateway.access(await gateway.directory.user_groups(principal.name))
        automatic = None
        slug = self.get_argument("flavor", "")
        if slug:
            try:
                choice = gateway.automatic(gateway.flavor(slug, access))
            except GatewayError as error:
                raise APIError(error.status, error.message) from None
            automatic = Automatic(choice.site.name if choice.site else None, choice.reason)
        offered = gateway.offered(access)
        flavors = [offload_flavor(flavor) for flavor in offered]
        self.write_json(Sites(gateway.sites(offered), flavors, automatic).to_json())


class JobsHandler(OffloadHandler):
    async def get(self) -> None:
        principal = self.caller()
        user: str | None = principal.name
        if principal.admin:
            user = self.get_argument("user", None)
        jobs = await self.gateway.recent(user)
        self.write_json(Jobs([job.to_wire() for job in jobs]).to_json())

    async def post(self) -> None:
        principal = self.caller()
        limit = self.gateway.max_request_bytes
        if len(self.request.body or b"") > limit:
            raise APIError(413, f"The submission is larger than the limit of {limit // 1024} KiB.")
        request = self.body_as(JobRequest, limit)
        try:
            job = await self.gateway.submit(principal.name, request)
        except GatewayError as error:
            raise APIError(error.status, error.message) from None
        self.write_json(job.to_wire().to_json(), 201)


class JobHandler(OffloadHandler):
    async def get(self, job_id: str) -> None:
        self.write_json((await self.find(job_id)).to_wire().to_json())

    async def delete(self, job_id: str) -> None:
        job = await self.find(job_id)
        await self.gateway.cancel(job)
        self.write_json(job.to_wire().to_json())


class RerunHandler(OffloadHandler):
    async def post(self, job_id: str) -> None:
        job = await self.find(job_id)
        try:
            new = await self.gateway.rerun(job)
        except GatewayError as error:
            raise APIError(error.status, error.message) from None
        self.write_json(new.to_wire().to_json(), 201)


class ResultHandler(OffloadHandler):
    async def get(self, job_id: str) -> None:
        job = await self.find(job_id)
        notebook = await self.gateway.store.notebook(job.id, "result") if job.has_result else None
        if notebook is None:
            raise APIError(409, f"The job {job.id} has no result yet (it is {job.state}).")
        self.write_json(notebook)


class LogsHandler(OffloadHandler):
    """The job's log text; ``?follow=1`` streams it until the job ends."""

    async def get(self, job_id: str) -> None:
        job = await self.find(job_id)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        follow = self.get_argument("follow", "0") not in ("0", "", "false")
        if follow:
            await self._until_started(job)
        if not job.open:
            self.finish((await self.gateway.store.logs(job.id)) or "")
            return
        try:
            if follow:
                async for line in self.tracker.stream_logs(job):
                    self.write(line + "\n")
                    await self.flush()
                self.finish()
            else:
                self.finish(await self.tracker.read_logs(job))
        except ApiException as error:
            if job.open:
                raise APIError(409, f"The job's logs cannot be read now: {error.reason}.") from None
            with contextlib.suppress(Exception):
                self.finish((await self.gateway.store.logs(job.id)) or "")

    async def _until_started(self, job: JobRecord) -> None:
        """Wait (bounded by the client's patience) while the job waits at its site."""
        while job.state == "pending":
            async with self.tracker.changed:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.tracker.changed.wait(), 5)
            if self.request.connection.stream.closed():  # type: ignore[union-attr]
                raise asyncio.CancelledError

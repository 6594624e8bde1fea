"""The offload gateway: checks a submission, books it against the group's offload quota, and
turns it into a ConfigMap and a pod on the site's virtual node. Users hold no Kubernetes
credentials; the service acts for them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import nbformat
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Dict, Int, List, Unicode
from traitlets.config import Configurable

from ...contract import SETUP_POLICIES, JobRequest, Site
from ...flavor_access import GroupAccess
from ...flavors import Flavor, Placement
from ..directory import GroupDirectory
from ..ledger import new_id
from ..policy import QuotaPolicy
from ..store.jobs import JobStore
from ..timeutil import utcnow
from . import pods, sites
from .record import JobRecord
from .sites import Choice

log = logging.getLogger("accelhub.offload")


class GatewayError(Exception):
    """A refused request: an HTTP status and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OffloadGateway(Configurable):
    """Jobs in, pods out; open jobs are kept in memory, every job in the store."""

    namespace = Unicode("accelhub", config=True, help="Namespace of offload pods.")
    image = Unicode(
        "quay.io/jupyter/scipy-notebook:latest",
        config=True,
        help="Image of offload jobs when the flavor names none (it needs nbclient, ipykernel "
        "and accelhub's server_ext.offload runner).",
    )
    runner_command = List(
        Unicode(),
        ["python", "-m", "server_ext.offload.runner"],
        config=True,
        help="The command that runs a job (its arguments are added).",
    )
    job_env = Dict(
        value_trait=Unicode(),
        config=True,
        help="Environment of offload jobs, e.g. {'PYTHONPATH': ...}.",
    )
    site_annotations = Dict(
        value_trait=Unicode(),
        default_value={"slurm-job.vk.io/flags": "--gres=gpu:{count}"},
        config=True,
        help="Annotations of every job pod, read by the sites' plugins; {count} (the job's "
        "devices; the entry is left out for jobs without devices), {user} and {flavor} are "
        "filled in.",
    )
    max_request_bytes = Int(
        900 * 1024,
        config=True,
        help="Largest job submission (the notebook travels in a ConfigMap, at most 1 MiB).",
    )

    def __init__(
        self,
        flavors: Mapping[str, Flavor],
        policy: QuotaPolicy,
        directory: GroupDirectory,
        store: JobStore,
        cluster: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flavors = flavors
        self.policy = policy
        self.directory = directory
        self.store = store
        self.cluster = cluster  # KubeCluster: its ApiClient and watch-fed inventory
        self.jobs: dict[str, JobRecord] = {}  # open jobs

    async def load(self) -> None:
        """The open jobs from the store (the tracker reconciles them with their pods)."""
        self.jobs = {job.id: job for job in await self.store.open_jobs()}

    # -- sites ----------------------------------------------------------------------------

    def queued(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            if job.state == "pending":
                counts[job.site] = counts.get(job.site, 0) + 1
        return counts

    def sites(self, flavors: list[Flavor] | None = None) -> list[Site]:
        """The sites; with ``flavors``, each says what a job of each of them asks for there."""
        jobs = [(flavor, job_count(flavor)) for flavor in flavors or ()]
        return sites.sites(self.cluster.inventory.state, self.queued(), jobs)

    def automatic(self, flavor: Flavor) -> Choice:
        """The site ``"auto"`` picks now for a job of ``flavor``, and why (the submit's rule)."""
        return sites.choose(self.cluster.inventory.state, self.sites(), flavor, job_count(flavor))

    # -- flavors --------------------------------------------------------------------------

    async def access(self, groups: list[str]) -> GroupAccess:
        """Which flavors members of ``groups`` may use, with what their properties open or
        close (the same rule as the spawner's and admission's)."""
        properties = {}
        for name in groups:
            info = await self.directory.group(name)
            properties[name] = info.properties if info is not None else None
        return self.policy.access(properties)

    def offered(self, access: GroupAccess) -> list[Flavor]:
        """The catalog's flavors that members of these groups may offload with."""
        return access.usable(self.flavors.values())

    def flavor(self, slug: str, access: GroupAccess) -> Flavor:
        """The flavor named ``slug``, if members of these groups may use it (else 422 or 403)."""
        flavor = self.flavors.get(slug)
        if flavor is None:
            raise GatewayError(422, f"There is no flavor named {slug!r}.")
        if not access.may_use(flavor):
            raise GatewayError(403, access.refusal(flavor, flavor.display_name))
        return flavor

    # -- reads ----------------------------------------------------------------------------

    async def job(self, job_id: str, user: str, admin: bool) -> JobRecord:
        """A job its caller may see; another user's job is unknown to them (404)."""
        job = self.jobs.get(job_id) or await self.store.get(job_id)
        if job is None or (job.user != user and not admin):
            raise GatewayError(404, f"There is no job {job_id}.")
        return job

    async def recent(self, user: str | None) -> list[JobRecord]:
        jobs = await self.store.recent(user)
        return [self.jobs.get(job.id, job) for job in jobs]

    # -- submission -----------------------------------------------------------------------

    async def submit(self, user: str, request: JobRequest) -> JobRecord:
        if request.flavor not in self.flavors:
            raise GatewayError(422, f"There is no flavor named {request.flavor!r}.")
        if request.setup not in SETUP_POLICIES:
            raise GatewayError(422, "The field 'setup' must be 'tagged' or 'above'.")
        input_sha256 = check_notebook(request.notebook, request.cell_id)
        groups = await self.directory.user_groups(user)
        flavor = self.flavor(request.flavor, await self.access(groups))
        count = job_count(flavor)
        site, reason, placement = self._site(request.site, flavor, count)
        group = await self._book(user, groups, count)
        now = utcnow()
        job_id = new_id()
        job = JobRecord(
            id=job_id,
            user=user,
            group=group,
            name=request.name,
            site=site,
            site_reason=reason,
            flavor=flavor.slug,
            count=count,
            cell_id=request.cell_id,
            setup=request.setup,
            parameters=dict(request.parameters),
            resources=pods.resources(flavor, placement, count),
            image=flavor.default_image or self.image,
            input_sha256=input_sha256,
            namespace=self.namespace,
            pod=f"accelhub-job-{job_id[-16:]}",
            submitted_at=now,
        )
        self.jobs[job.id] = job  # booked before the first await: concurrent submits see it
        try:
            await self.store.add(job, request.notebook)
        except Exception:
            self.jobs.pop(job.id, None)
            raise
        await self._create(job, request.notebook, flavor, placement)
        return job

    def _site(self, wanted: str, flavor: Flavor, count: int) -> tuple[str, str, Placement]:
        """The site, why, and the shape the job takes there."""
        if wanted == "auto":
            choice = self.automatic(flavor)
            if choice.site is None or choice.placement is None:
                raise GatewayError(409, choice.reason)
            return choice.site.name, choice.reason, choice.placement
        known = {site.name: site for site in self.sites()}
        site = known.get(wanted)
        if site is None:
            raise GatewayError(422, f"There is no site named {wanted!r}.")
        placement, why = sites.offer(self.cluster.inventory.state, site, flavor, count)
        if placement is None:
            detail = f": {site.message}" if site.message else ""
            raise GatewayError(409, f"The site {wanted} cannot take the job ({why}){detail}.")
        return wanted, "asked for by the user; " + sites.describe(site, placement), placement

    async def _book(self, user: str, groups: list[str], count: int) -> str | None:
        """The group the job is charged to; 403 with a sentence when every one is full."""
        now = utcnow()
        since = now - timedelta(days=self.policy.offload_period_days)
        refusals: list[str] = []
        for name in sorted(groups):
            info = await self.directory.group(name)
            limits = self.policy.offload_limits(name, info.properties if info else None)
            if limits is None:
                continue
            if limits.device_hours is not None and count:
                used = sum(j.device_hours(now) for j in await self.store.group_since(name, since))
                if used >= limits.device_hours:
                    refusals.append(
                        f"the group {name} has used {used:.1f} of its {limits.device_hours:g} "
                        f"offload device-hours in the last {self.policy.offload_period_days:g} "
                        "days"
                    )
                    continue
            # Counted after the last await: the caller books the job before awaiting again.
            running = sum(1 for j in self.jobs.values() if j.group == name)
            if limits.jobs is not None and running >= limits.jobs:
                refusals.append(
                    f"the group {name} already has {running} offload jobs pending or running, "
                    "its limit"
                )
                continue
            return name
        if refusals:
            raise GatewayError(403, "Over the offload quota: " + "; ".join(refusals) + ".")
        limits = self.policy.default_offload_limits()
        mine = sum(1 for j in self.jobs.values() if j.user == user and j.group is None)
        if limits.jobs is not None and mine >= limits.jobs:
            raise GatewayError(
                403,
                f"Over the offload quota: you already have {mine} offload jobs pending or "
                f"running, the limit for users without a group offload quota.",
            )
        return None

    async def _create(
        self, job: JobRecord, notebook: dict[str, Any], flavor: Flavor, placement: Placement
    ) -> None:
        """ConfigMap, pod, then the ConfigMap's owner reference (it goes with the pod)."""
        api: Any = client.CoreV1Api(self.cluster.api)
        templates = pods.site_annotations(self.site_annotations, job.count, job.user, flavor.slug)
        try:
            await api.create_namespaced_config_map(job.namespace, pods.configmap(job, notebook))
            created = await api.create_namespaced_pod(
                job.namespace,
                pods.pod(job, self.runner_command, templates, self.job_env, placement),
            )
            await api.patch_namespaced_config_map(
                job.pod, job.namespace, pods.owner_patch(job.pod, created.metadata.uid)
            )
        except ApiException as error:
            with contextlib.suppress(ApiException):
                await api.delete_namespaced_config_map(job.pod, job.namespace)
            await self.finish(
                job, "failed", "failed", f"The cluster refused the job's pod: {api_reason(error)}"
            )
            raise GatewayError(
                503,
                f"The job could not be started: the cluster refused its pod ({api_reason(error)}).",
            ) from None

    # -- changes --------------------------------------------------------------------------

    async def finish(
        self,
        job: JobRecord,
        state: str,
        reason: str | None,
        message: str | None,
        result: dict[str, Any] | None = None,
        logs: str | None = None,
    ) -> None:
        """End a job once: its state, why, and the executed notebook when there is one."""
        if not job.open:
            return
        job.state, job.reason, job.message = state, reason, message
        job.ended_at = utcnow()
        job.has_result = job.has_result or result is not None
        self.jobs.pop(job.id, None)
        await self.store.save(job, result, logs)

    async def cancel(self, job: JobRecord) -> JobRecord:
        """Delete the job's pod (the site stops it) and end the job as cancelled."""
        if not job.open:
            return job
        await self.finish(job, "cancelled", "cancelled", "Cancelled by its owner.")
        await self.delete_pod(job)
        return job

    async def delete_pod(self, job: JobRecord) -> None:
        api: Any = client.CoreV1Api(self.cluster.api)
        with contextlib.suppress(ApiException):
            await api.delete_namespaced_pod(job.pod, job.namespace, grace_period_seconds=0)

    async def rerun(self, job: JobRecord) -> JobRecord:
        notebook = await self.store.notebook(job.id, "notebook")
        request = JobRequest(
            notebook=notebook or {},
            flavor=job.flavor,
            name=job.name,
            site=job.site,
            parameters=job.parameters,
            cell_id=job.cell_id,
            setup=job.setup,
        )
        return await self.submit(job.user, request)


def job_count(flavor: Flavor) -> int:
    """The devices one offload job of ``flavor`` asks for (0 for a flavor without devices)."""
    return flavor.default_count if flavor.resource else 0


def check_notebook(notebook: dict[str, Any], cell_id: str | None) -> str:
    """The notebook's SHA-256, after checking it is valid nbformat 4 (and holds the cell)."""
    if notebook.get("nbformat") != 4:
        raise GatewayError(422, "The notebook must be in nbformat 4.")
    try:
        nbformat.validate(nbformat.from_dict(notebook), version=4)
    except nbformat.ValidationError as error:
        first = str(error.message).splitlines()[0] if error.message else "invalid"
        raise GatewayError(
            422, f"The notebook is not a valid nbformat 4 notebook: {first}"
        ) from None
    if cell_id is not None and not any(c.get("id") == cell_id for c in notebook.get("cells") or ()):
        raise GatewayError(422, f"The notebook has no cell with the id {cell_id!r}.")
    raw = json.dumps(notebook, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()


def api_reason(error: ApiException) -> str:
    """The API server's message of a refusal."""
    try:
        return str(json.loads(error.body or b"{}").get("message") or error.reason)
    except (TypeError, ValueError, AttributeError):
        return str(error.reason)

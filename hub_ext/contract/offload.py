"""The offload API: sites (InterLink virtual nodes) and jobs, written by the hub service's
gateway and read by the user server's offload extension."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .wire import Wire, schema, text

JOB_STATES = ("pending", "running", "succeeded", "failed", "cancelled")
JOB_REASONS = ("site-rejected", "failed", "site-unreachable", "cancelled")
SETUP_POLICIES = ("tagged", "above")
OPEN_STATES = frozenset({"pending", "running"})


@dataclass(frozen=True)
class Site(Wire):
    """A remote site: one InterLink virtual node."""

    name: str
    display_name: str
    ready: bool = False
    last_seen: str | None = field(default=None, metadata=schema(format="date-time"))
    accelerators: dict[str, int] = field(default_factory=dict)
    queue: int = 0
    message: str | None = None
    # For each of the caller's flavors with devices that the site can serve: what one job
    # asks for there (the resource, and the labels that make it the flavor's device).
    offers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Automatic(Wire):
    """Which site ``site: "auto"`` would pick now for a flavor, and why (``site`` None: none)."""

    site: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Accelerator(Wire):
    """The devices one job of a flavor asks for."""

    resource: str
    count: int


@dataclass(frozen=True)
class OffloadFlavor(Wire):
    """A catalog flavor the caller may offload with."""

    slug: str
    display_name: str
    accelerator: Accelerator | None = None


@dataclass(frozen=True)
class Sites(Wire):
    """``GET api/v1/sites[?flavor=slug]``: the sites, the flavors the caller may use, and
    (with ``flavor``) what "Automatic" would pick for it now."""

    sites: list[Site] = field(default_factory=list)
    flavors: list[OffloadFlavor] = field(default_factory=list)
    automatic: Automatic | None = None


@dataclass(frozen=True)
class JobRequest(Wire):
    """``POST api/v1/jobs``: run a notebook, or one cell of it, on a site."""

    notebook: dict[str, Any]
    flavor: str = field(metadata=text(minLength=1))
    name: str = field(default="notebook.ipynb", metadata=text(minLength=1))
    site: str = field(default="auto", metadata=text(minLength=1))
    parameters: dict[str, Any] = field(default_factory=dict)
    cell_id: str | None = field(default=None, metadata=text())
    setup: str = field(default="tagged", metadata=schema(enum=list(SETUP_POLICIES)))


@dataclass(frozen=True)
class JobProgress(Wire):
    cell: int
    of: int


@dataclass(frozen=True)
class Provenance(Wire):
    """What ran where, from which inputs, and why there."""

    image: str | None = None
    input_sha256: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    site: str | None = None
    flavor: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    submitted_at: str | None = field(default=None, metadata=schema(format="date-time"))
    started_at: str | None = field(default=None, metadata=schema(format="date-time"))
    finished_at: str | None = field(default=None, metadata=schema(format="date-time"))
    exit: str | None = None
    site_reason: str | None = None


@dataclass(frozen=True)
class Job(Wire):
    """An offload job as its owner (and admins) see it."""

    id: str
    user: str
    name: str
    state: str = field(metadata=schema(enum=list(JOB_STATES)))
    site: str
    flavor: str
    reason: str | None = field(default=None, metadata=schema(enum=list(JOB_REASONS)))
    message: str | None = None
    site_reason: str | None = None
    cell_id: str | None = None
    setup: str = "tagged"
    progress: JobProgress | None = None
    provenance: Provenance = field(default_factory=Provenance)
    energy_wh: float | None = None
    has_result: bool = False


@dataclass(frozen=True)
class Jobs(Wire):
    """``GET api/v1/jobs``."""

    jobs: list[Job] = field(default_factory=list)

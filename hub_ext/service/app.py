"""The accelhub hub service application: traitlets settings, start-up, periodic work, routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Bool, Dict, Float, Int, List, TraitError, Unicode, default
from traitlets.config import Application

from ..catalog import AcceleratorCatalog, check_catalog
from .activity import ActivityTracker
from .api_leases import (
    AdmissionsHandler,
    BindHandler,
    EntitlementsHandler,
    LeaseHandler,
    LeasesHandler,
    QueueHandler,
)
from .api_reservations import ReservationHandler, ReservationsHandler
from .api_usage import ActivityHandler, UsageHandler
from .capacity_sources import CapacitySource, StaticCapacity
from .core import AdmissionCore
from .directory import GroupDirectory
from .hubapi import HubClient
from .metrics import Metrics
from .misc_handlers import (
    FlavorsHandler,
    MetricsHandler,
    NotFoundHandler,
    OpenAPIHandler,
    PolicyHandler,
)
from .offload.gateway import OffloadGateway
from .offload.handlers import (
    JobHandler,
    JobsHandler,
    LogsHandler,
    RerunHandler,
    ResultHandler,
    SitesHandler,
)
from .offload.tracker import JobTracker
from .pages import AdminPage, MePage, OrganiserPage
from .policy import QuotaPolicy
from .quota_editor import QuotaEditHandler
from .reclaim import Reclaimer
from .store import Repository, make_engine, migrate
from .store.jobs import JobStore
from .timeutil import utcnow

log = logging.getLogger("accelhub.service")
MAX_REQUEST_BYTES = 16 * 1024 * 1024


class AccelhubService(Application):
    """Quotas, reservations, leases, accounting and idle reclaim for accelerators."""

    name = "accelhub-service"
    description = "The accelhub JupyterHub service."
    classes = [AcceleratorCatalog, QuotaPolicy, OffloadGateway, JobTracker]
    aliases = {
        "config": "AccelhubService.config_file",
        "db-url": "AccelhubService.db_url",
        "bind-url": "AccelhubService.bind_url",
    }

    config_file = Unicode(
        "accelhub_service_config.py",
        config=True,
        help="Python traitlets config file (catalog, quotas, service settings).",
    )
    db_url = Unicode(
        "sqlite:///accelhub.sqlite",
        config=True,
        help="SQLAlchemy URL of the store: sqlite:///path (default) or postgresql://...",
    )
    db_pool_size = Int(10, config=True, help="Connections kept open to PostgreSQL.")
    service_name = Unicode(config=True, help="The service's name in JupyterHub.")
    bind_url = Unicode(config=True, help="Where to listen (JUPYTERHUB_SERVICE_URL by default).")
    service_prefix = Unicode(config=True, help="URL prefix (JUPYTERHUB_SERVICE_PREFIX by default).")
    hub_api_url = Unicode(config=True, help="The Hub API (JUPYTERHUB_API_URL by default).")
    hub_base_url = Unicode(
        config=True,
        help="The hub's public base URL path (JUPYTERHUB_BASE_URL by default, else '/'): the "
        "pages link the hub's own styles, logo and home from here.",
    )
    api_token = Unicode(config=True, help="The service's Hub token (JUPYTERHUB_API_TOKEN).")
    group_cache_seconds = Float(
        10.0, config=True, help="How long group membership read from the hub is cached."
    )
    retry_hint_seconds = Int(60, config=True, help="Retry hint given with refusals.")
    queue_hold_seconds = Int(
        600,
        config=True,
        help="How long a lease granted from the waiting line is held for its user to start.",
    )
    queue_stale_seconds = Float(
        60.0,
        config=True,
        help="Seconds after a waiting server's last lease request when it loses its place in "
        "line (a waiting spawner asks every few seconds; one that gave up or went away stops).",
    )
    reserved_priority_class = Unicode(
        "accelhub-reserved",
        config=True,
        help="PriorityClass for pods of reservation participants (above the placeholders).",
    )
    lease_priority_class = Unicode(
        "", config=True, help="PriorityClass for other leased pods ('' = cluster default)."
    )
    reservation_max_days = Float(
        366.0,
        config=True,
        help="How far from now (days) a reservation's window may start or end.",
    )
    tick_seconds = Float(5.0, config=True, help="Interval of expiry and waiting-line service.")
    idle_timeout_minutes = Float(
        0.0,
        config=True,
        help="""Stop servers whose GPU had no activity this long (0 = off). Groups override it
        with the property accelhub.idle_timeout_minutes; hackathon groups are exempt.""",
    )
    idle_warning_minutes = Float(10.0, config=True, help="Warn this long before an idle stop.")
    reclaim_reserved = Bool(False, config=True, help="Also reclaim leases of reservations.")
    reclaim_interval_seconds = Float(30.0, config=True, help="Interval of the idle check.")
    metrics_require_auth = Bool(
        False, config=True, help="Require a token with read:metrics for /metrics."
    )
    static_capacity = Dict(
        config=True,
        help="""Devices per flavor when not talking to Kubernetes: {flavor: total}.
        Reservations are then held on paper only; use `kubernetes` in production.""",
    )
    startup_reservations = List(
        Dict(),
        config=True,
        help="""Reservations ensured at start-up (by name), e.g. for demos:
        [{"name": "Demo hackathon", "group": "hackathon", "flavor": "t4", "per_member": true,
        "hours": 8}] (or "count": N instead of per_member).""",
    )
    hub_groups = Dict(
        config=True,
        help="""Groups the service creates in the hub at start-up, with these properties:
        {group: properties}. For hubs whose authenticator manages group membership (OIDC),
        which load no groups themselves; needs the admin:groups scope.""",
    )
    kubernetes = Bool(
        False,
        config=True,
        help="Talk to Kubernetes: capacity, reservation placeholders, reconciliation.",
    )

    @default("service_name")
    def _service_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_NAME", "accelhub")

    @default("bind_url")
    def _bind_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")

    @default("service_prefix")
    def _service_prefix(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{self.service_name}/")

    @default("hub_base_url")
    def _hub_base_url(self) -> str:
        return os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/"

    @default("hub_api_url")
    def _hub_api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api")

    @default("api_token")
    def _api_token(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
            self.update_config(self.cli_config)  # the command line wins
        elif "config_file" in self.cli_config.get("AccelhubService", {}):
            raise SystemExit(f"accelhub: the config file {self.config_file!r} does not exist")
        # No built-in default: a missing or bad catalog stops start-up with one line naming it.
        self.catalog = check_catalog(self.config)

        try:
            self.policy = QuotaPolicy(parent=self)
        except TraitError as error:  # a quota table breaking quota_rules: one line naming it
            raise SystemExit(f"accelhub: {error}") from None
        self.hub = HubClient(self.hub_api_url, self.api_token, self.group_cache_seconds)
        self.directory: GroupDirectory = self.hub
        self.capacity: CapacitySource | None = None
        self.cluster: Any = None
        self.gateway: OffloadGateway | None = None
        self.tracker: JobTracker | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def setup(self) -> None:
        """Open the store, rebuild the ledger, connect to the cluster."""
        self.engine = make_engine(self.db_url, self.db_pool_size)
        await migrate(self.engine)
        flavors = {f.slug: f for f in self.catalog.all()}
        if self.kubernetes:
            from .kube import KubeCluster

            self.cluster = KubeCluster(parent=self, flavors=flavors)
            await self.cluster.start()
            self.capacity = self.cluster
        elif self.static_capacity:
            self.capacity = StaticCapacity(
                {str(k): int(v) for k, v in self.static_capacity.items()}
            )
        self.store = Repository(self.engine)
        self.core = AdmissionCore(
            self.store,
            flavors,
            self.policy,
            self.directory,
            self.capacity,
            retry_hint_seconds=self.retry_hint_seconds,
            queue_hold_seconds=self.queue_hold_seconds,
            queue_stale_seconds=self.queue_stale_seconds,
            reservation_max_days=self.reservation_max_days,
        )
        await self.core.load()
        self.activity = ActivityTracker(self.store)
        await self.activity.load(utcnow())
        self.reclaimer = Reclaimer(
            self.core,
            self.activity,
            self.hub.stop_server,
            self.idle_timeout_minutes,
            self.idle_warning_minutes,
            self.reclaim_reserved,
        )
        self.metrics = Metrics(self.core)
        self.reclaimer.on_reclaim.append(self.metrics.reclaim)
        if self.cluster is not None:
            self.cluster.attach(self.core)
            await self.cluster.reconcile()
            await self._start_offload(flavors)
        for name, properties in self.hub_groups.items():
            await self.hub.ensure_group(str(name), dict(properties or {}))
        await self._startup_reservations()
        self._every(self.tick_seconds, self._tick)
        self._every(self.reclaim_interval_seconds, self._reclaim)

    async def _start_offload(self, flavors: dict[str, Any]) -> None:
        """The offload gateway and its tracker, which reconciles open jobs with their pods."""
        self.gateway = OffloadGateway(
            flavors, self.policy, self.directory, JobStore(self.store), self.cluster, parent=self
        )
        await self.gateway.load()
        self.tracker = JobTracker(self.gateway, parent=self)
        self.tracker.start()

    async def _startup_reservations(self) -> None:
        from datetime import timedelta

        now = utcnow()
        names = {r.name for r in self.core.ledger.reservations.values()}
        for spec in self.startup_reservations:
            if spec.get("name") in names:
                continue
            try:
                await self.core.create_reservation(
                    str(spec.get("name", "")),
                    str(spec["group"]),
                    str(spec["flavor"]),
                    spec.get("count"),
                    bool(spec.get("per_member", False)),
                    now - timedelta(minutes=1),
                    now + timedelta(hours=float(spec.get("hours", 8))),
                    "accelhub",
                )
            except Exception as error:
                log.warning("start-up reservation %s not created: %s", spec.get("name"), error)

    def _every(self, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception:
                    log.exception("periodic job %s failed", job.__name__)

        self._tasks.append(asyncio.create_task(loop()))

    async def _tick(self) -> None:
        ended = await self.core.expire()
        for lease in ended:
            if lease.reservation_id and lease.pod:
                with contextlib.suppress(Exception):
                    await self.hub.stop_server(lease.user, lease.server)

    async def _reclaim(self) -> None:
        await self.reclaimer.tick(utcnow())

    def make_web_app(self) -> web.Application:
        prefix = self.service_prefix
        api = prefix + "api/v1/"
        hub_auth = HubOAuth(
            api_token=self.api_token,
            api_url=self.hub_api_url,
            cache_max_age=30,
            access_scopes=set(),
        )
        routes: list[Any] = [
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
            (api + "admissions", AdmissionsHandler),
            (api + "leases", LeasesHandler),
            (api + r"leases/([^/]+)/bind", BindHandler),
            (api + r"leases/([^/]+)", LeaseHandler),
            (api + r"users/([^/]+)/entitlements", EntitlementsHandler),
            (api + "queue", QueueHandler),
            (api + "reservations", ReservationsHandler),
            (api + r"reservations/([^/]+)", ReservationHandler),
            (api + "usage", UsageHandler),
            (api + "activity", ActivityHandler),
            (api + "flavors", FlavorsHandler),
            (api + "policy", PolicyHandler),
            (api + "openapi.json", OpenAPIHandler),
            (api + "sites", SitesHandler),
            (api + "jobs", JobsHandler),
            (api + r"jobs/([^/]+)/logs", LogsHandler),
            (api + r"jobs/([^/]+)/result", ResultHandler),
            (api + r"jobs/([^/]+)/rerun", RerunHandler),
            (api + r"jobs/([^/]+)", JobHandler),
            (prefix + "metrics", MetricsHandler),
            (prefix + "admin", AdminPage),
            (prefix + r"admin/quotas/([^/]+)", QuotaEditHandler),
            (prefix + "organiser", OrganiserPage),
            (prefix + "me", MePage),
            (prefix.rstrip("/"), web.RedirectHandler, {"url": prefix + "me"}),
            (prefix, web.RedirectHandler, {"url": prefix + "me"}),
        ]
        return web.Application(
            routes,
            cookie_secret=secrets.token_bytes(32),
            hub_auth=hub_auth,
            accelhub_app=self,
            accelhub_core=self.core,
            template_path=os.path.join(os.path.dirname(__file__), "templates"),
            static_path=os.path.join(os.path.dirname(__file__), "static"),
            static_url_prefix=prefix + "static/",
            xsrf_cookies=False,
            default_handler_class=NotFoundHandler,
        )

    async def serve(self) -> None:
        await self.setup()
        app = self.make_web_app()
        url = urlparse(self.bind_url)
        # Bodies past this are refused before they are read (a bare 400); handlers answer
        # anything over base.MAX_BODY_BYTES with a 413 sentence.
        server = HTTPServer(app, xheaders=True, max_body_size=MAX_REQUEST_BYTES)
        server.listen(url.port or 80, url.hostname or "127.0.0.1")
        log.info("accelhub service listening on %s%s", self.bind_url, self.service_prefix)
        try:
            await asyncio.Event().wait()
        finally:
            server.stop()
            await self.shutdown()

    async def shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.tracker is not None:
            await self.tracker.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.store.close()
        await self.engine.dispose()

    def start(self) -> None:
        logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(name)s] %(message)s")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self.serve())


def main(argv: list[str] | None = None) -> None:
    app = AccelhubService.instance()
    app.initialize(argv)
    app.start()

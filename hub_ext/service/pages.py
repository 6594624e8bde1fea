"""Server-rendered pages: admin overview, organiser reservations, and "me" for every user."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from html import escape
from typing import Any

from tornado import web

from ..flavor_access import access_table
from . import humanize, usage_series, views
from .accounting import usage
from .base import BaseHandler
from .shape import lease_json
from .store.quota_changes import QuotaChanges
from .store.reservation_changes import ReservationChanges, size_text
from .timeutil import utcnow

IDLE_NUDGE_SECONDS = 30 * 60  # a held device idle this long gets a nudge on "me"
UNKNOWN_TOTAL = "not known: the service counts no devices of this flavor"
NO_TELEMETRY = "not reported: no telemetry from the server"
NO_POWER = "not reported: no power readings (MIG slices and servers without telemetry)"


def when_html(
    value: datetime | str | None, now: datetime, future: str = "in", absent: str = ""
) -> str:
    """A ``<time>`` the page's script shows in the reader's zone, with a relative hint."""
    found = humanize.moment(value, now, future)
    if found is None:
        return f'<span class="unknown">{escape(absent)}</span>' if absent else ""
    return (
        f'<time datetime="{escape(found.iso)}">{escape(found.text)}</time> '
        f'<span class="hint">({escape(found.relative)})</span>'
    )


class PageHandler(BaseHandler):
    page_name = ""

    def page(self, template: str, **values: Any) -> None:
        principal = self.principal
        assert principal is not None
        self.render(
            template,
            prefix=self.app.service_prefix,
            hub=self.app.hub_base_url + "hub/",
            page_name=self.page_name,
            principal=principal,
            xsrf=self.xsrf_token.decode()
            if isinstance(self.xsrf_token, bytes)
            else self.xsrf_token,
            now=utcnow(),
            when=when_html,
            hm=humanize,
            names=self.flavor_names(),
            UNKNOWN_TOTAL=UNKNOWN_TOTAL,
            NO_TELEMETRY=NO_TELEMETRY,
            NO_POWER=NO_POWER,
            size_text=size_text,
            **{"chart": None, **values},
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A refusal (403: not an organiser, not an admin) as its sentence in the pages' look."""
        error = kwargs.get("exc_info", (None, None))[1]
        if self.principal is None or not isinstance(error, web.HTTPError) or status_code >= 500:
            super().write_error(status_code, **kwargs)
            return
        message = error.log_message or self._reason
        self.page("error.html", message=message % error.args if error.args else message)

    async def chart(
        self,
        dimensions: tuple[str, ...],
        users: set[str] | None = None,
        groups: set[str] | None = None,
    ) -> dict[str, Any]:
        """The usage section's figures for the window and dimension the query asks for."""
        days = usage_series.window(self.get_argument("days", None))
        by = self.get_argument("by", dimensions[0])
        by = by if by in dimensions else dimensions[0]
        series = await usage_series.daily(
            self.core.store, days, by, utcnow(), users=users, groups=groups
        )
        return {
            "days": days,
            "by": by,
            "windows": usage_series.WINDOWS,
            "dimensions": dimensions,
            "totals": series.totals,
            # inside <script>: no "</" may close it early
            "json": json.dumps(series.to_json()).replace("</", "<\\/"),
        }

    def flavor_names(self) -> dict[str, str]:
        """Each flavor's display name, by slug."""
        return {
            slug: getattr(flavor, "display_name", "") or slug
            for slug, flavor in self.core.flavors.items()
        }

    def editable_flavors(self) -> list[tuple[str, str]]:
        """(key, label) of the rows of a quota table: each accelerator flavor, then ``*``."""
        names = self.flavor_names()
        rows = [(slug, names[slug]) for slug, f in self.core.flavors.items() if f.resource]
        return [*rows, ("*", "every other flavor")]

    def flavor_rows(self) -> list[dict[str, Any]]:
        core = self.core
        now = core.clock()
        rows = []
        for slug, flavor in core.flavors.items():
            cap = core.capacity(slug)
            unclaimed = 0
            for res in core.ledger.active_reservations(slug, now):
                size = res.size(core.member_counts.get(res.group, 0))
                unclaimed += core.ledger.unclaimed(res, size)
            used = core.ledger.flavor_used.get(slug, 0)
            rows.append(
                {
                    "slug": slug,
                    "name": getattr(flavor, "display_name", "") or slug,
                    "kind": flavor.kind,
                    "resource": flavor.resource or "",
                    "total": cap.total if cap else None,
                    "used": used,
                    "reserved": unclaimed,
                    "free": (cap.total - cap.external_used - used - unclaimed) if cap else None,
                    "waiting": len(core.ledger.queue.get(slug, ())),
                }
            )
        return rows


class MePage(PageHandler):
    page_name = "me"

    @web.authenticated
    async def get(self) -> None:
        principal = self.need_principal()
        core = self.core
        leases = [
            lease_json(lease)
            for lease in core.ledger.leases.values()
            if lease.user == principal.name
        ]
        chart = await self.chart(("flavor",), users={principal.name})
        now = utcnow()
        idle = usage_series.idle_holders(
            [lease for lease in core.ledger.leases.values() if lease.user == principal.name],
            self.app.activity.servers,
            now,
            {slug for slug, f in core.flavors.items() if f.resource},
        )
        entitlements = (await views.entitlements(core, principal.name)).to_json()
        notices = [
            status
            for (user, _server), status in self.app.reclaimer.reclaimed.items()
            if user == principal.name
        ]
        for (user, _server), state in self.app.activity.servers.items():
            if user == principal.name and state.warning:
                notices.append({"state": "warned", "message": state.warning})
        self.page(
            "me.html",
            leases=leases,
            chart=chart,
            idle=[i for i in idle if i.idle_seconds >= IDLE_NUDGE_SECONDS],
            entitlements=entitlements["flavors"],
            queue=[q.to_json() for q in views.queue_entries(core, user=principal.name)],
            notices=notices,
        )


class OrganiserPage(PageHandler):
    page_name = "organiser"

    @web.authenticated
    async def get(self) -> None:
        principal = self.need_principal()
        if not principal.organiser:
            raise web.HTTPError(403, "You do not organise any group.")
        core = self.core
        reservations = []
        for res in core.ledger.reservations.values():
            if not principal.organises(res.group):
                continue
            body = (await views.reservation(core, res)).to_json()
            body["started"] = res.start <= core.clock()  # the form offers the start before that
            info = await core.directory.group(res.group)
            claimed = {
                lease.user
                for lease in core.ledger.leases.values()
                if lease.reservation_id == res.id
            }
            body["participants"] = [
                {"user": u, "claimed": u in claimed} for u in (info.users if info else [])
            ]
            reservations.append(body)
        groups = sorted(principal.organised) if not principal.admin else []
        everyone = principal.admin or principal.organises_all
        chart = await self.chart(
            ("group", "flavor", "user"),
            groups=None if principal.admin else set(principal.organised),
        )
        changes = ReservationChanges(core.store)
        self.page(
            "organiser.html",
            chart=chart,
            reservation_changes=await changes.recent(None if everyone else principal.organised),
            reservations=reservations,
            groups=groups,
            flavors=[slug for slug, f in core.flavors.items() if f.resource],
        )


class AdminPage(PageHandler):
    page_name = "admin"

    @web.authenticated
    async def get(self) -> None:
        changed = self.get_argument("changed", "")
        await self.show(notice=f"The quotas of {changed} are saved." if changed else "")

    def need_admin(self) -> None:
        if not self.need_principal().admin:
            raise web.HTTPError(403, "This page is for accelhub admins.")

    async def show(self, status: int = 200, notice: str = "", error: str = "") -> None:
        """The page, with a sentence saying how the last quota edit went."""
        self.need_admin()
        core = self.core
        groups = []
        for info in await core.directory.all_groups():
            groups.append(
                {
                    "name": info.name,
                    "members": len(info.users),
                    "quotas": core.policy.group_settings(info.properties).get("quotas")
                    or core.policy.group_quotas.get(info.name)
                    or {},
                    "live": bool(core.policy.group_settings(info.properties).get("quotas")),
                    "own": core.policy.group_settings(info.properties).get("quotas") or {},
                    "config": core.policy.group_quotas.get(info.name) or {},
                    "access": access_table(info.properties, core.policy.group_property_key),
                    "in_use": {
                        slug: used
                        for (group, slug), used in core.ledger.group_used.items()
                        if group == info.name and used
                    },
                }
            )
        reservations = [
            (await views.reservation(core, r)).to_json() for r in core.ledger.reservations.values()
        ]
        now = utcnow()
        chart = await self.chart(("group", "flavor", "user"))
        start = now - timedelta(days=chart["days"])
        self.set_status(status)
        self.page(
            "admin.html",
            notice=notice,
            error=error,
            editable=self.editable_flavors(),
            catalog_access={
                slug: humanize.catalog_access(getattr(f, "groups", ()))
                for slug, f in core.flavors.items()
            },
            quota_changes=await QuotaChanges(core.store).recent(),
            reservation_changes=await ReservationChanges(core.store).recent(),
            chart=chart,
            flavor_use=await usage(core.store, start, now, "flavor", now),
            idle=usage_series.idle_holders(
                core.ledger.leases.values(),
                self.app.activity.servers,
                now,
                {slug for slug, f in core.flavors.items() if f.resource},
            ),
            flavors=self.flavor_rows(),
            groups=groups,
            default_quota=core.policy.default_quota,
            reservations=reservations,
            leases=[lease_json(lease) for lease in core.ledger.leases.values()],
            queue=[q.to_json() for q in views.queue_entries(core)],
        )

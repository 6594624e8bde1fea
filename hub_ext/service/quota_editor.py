"""Admins edit a group's quotas on the admin page: the form's fields checked by quota_rules,
stored as the group's JupyterHub properties, recorded in the store's quota changes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from tornado import web

from .hubapi import HubAPIError
from .pages import AdminPage
from .quota_rules import LABELS, QuotaError, check_number
from .store.quota_changes import QuotaChange, QuotaChanges
from .timeutil import utcnow

# What a row of the form may say of a flavor.
INHERIT, LIMIT, CLOSED = "inherit", "limit", "closed"
NO_SCOPE = (
    "The service may not change group properties in JupyterHub: give its role the scope "
    "'groups' (see the admin guide). Nothing was changed."
)


def parse_form(
    get: Callable[[str], str], rows: Sequence[tuple[str, str]]
) -> dict[str, dict[str, int | None]]:
    """The quota table a form describes (empty: the group follows the config file).

    ``get`` reads a field ("" when absent); ``rows`` are (flavor key, label) pairs. Each row
    has ``mode:<key>`` (inherit, limit or closed), and for limit ``devices:<key>`` and
    ``per_user:<key>``, where an empty field means no limit at that level."""
    table: dict[str, dict[str, int | None]] = {}
    for key, label in rows:
        mode = get(f"mode:{key}") or INHERIT
        if mode == INHERIT:
            continue
        if mode == CLOSED:
            table[key] = {"devices": 0, "per_user": 0}
            continue
        if mode != LIMIT:
            raise QuotaError(f"The choice for {label} must be inherit, limit or closed.")
        limits: dict[str, int | None] = {}
        for field in LABELS:
            text = get(f"{field}:{key}").strip()
            value: Any = text or None
            with contextlib.suppress(ValueError):  # check_number names the field if not
                value = int(text) if text else None
            limits[field] = check_number(value, f"The {LABELS[field]} of {label}")
        table[key] = limits
    return table


class QuotaEditHandler(AdminPage):
    """POST a group's quota form (XSRF-checked by the hub's OAuth, admins only)."""

    @web.authenticated
    async def post(self, group: str) -> None:
        self.need_admin()
        principal = self.need_principal()
        rows = self.editable_flavors()
        try:
            table = parse_form(lambda name: self.get_body_argument(name, ""), rows)
        except QuotaError as error:
            await self.show(400, error=f"The quotas of {group} were not saved: {error}")
            return
        hub = self.app.hub
        key = self.core.policy.group_property_key
        try:
            properties = await hub.group_properties(group)
            if properties is None:
                await self.show(404, error=f"There is no group called {group!r} in JupyterHub.")
                return
            settings = dict(properties.get(key) or {})
            before = settings.get("quotas") or None
            after = table or None
            if after == before:
                self.redirect(f"{self.app.service_prefix}admin#quotas", status=303)
                return
            if after is None:
                settings.pop("quotas", None)
            else:
                settings["quotas"] = after
            await hub.set_group_properties(group, {**properties, key: settings})
        except HubAPIError as error:
            if ": 403 " in str(error):
                await self.show(502, error=NO_SCOPE)
                return
            raise
        await QuotaChanges(self.core.store).record(
            QuotaChange(group, principal.name, utcnow(), before, after)
        )
        target = f"{self.app.service_prefix}admin?changed={quote(group)}#quotas"
        self.redirect(target, status=303)

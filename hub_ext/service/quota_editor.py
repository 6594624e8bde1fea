"""Admins edit a group's quotas and flavor access on the admin page: the form's fields checked
by quota_rules and flavor_access, stored as the group's JupyterHub properties, recorded in the
store's quota changes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from tornado import web

from ..flavor_access import ACCESS_FIELD, AccessError, check_access_table
from .hubapi import HubAPIError
from .pages import AdminPage
from .quota_rules import LABELS, QuotaError, check_number
from .store.quota_changes import QuotaChange, QuotaChanges
from .timeutil import utcnow

# What a row of the form may say of a flavor's quota, and of its access.
INHERIT, LIMIT, CLOSED = "inherit", "limit", "closed"
CATALOG = "catalog"  # access as the catalog's groups: say
ACCESS_PREFIX = "access:"
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


def parse_access(fields: Mapping[str, str], flavors: Collection[str], group: str) -> dict[str, str]:
    """The flavor access table the form's ``access:<slug>`` fields describe (empty: as the
    catalog says), checked by the rules of hub_ext.flavor_access."""
    table = {}
    for name, choice in fields.items():
        slug = name.removeprefix(ACCESS_PREFIX)
        if name.startswith(ACCESS_PREFIX) and choice != CATALOG:
            table[slug] = choice
    return check_access_table(table, f"The flavor access of {group}", flavors)


class QuotaEditHandler(AdminPage):
    """POST a group's quota form (XSRF-checked by the hub's OAuth, admins only)."""

    @web.authenticated
    async def post(self, group: str) -> None:
        self.need_admin()
        principal = self.need_principal()
        rows = self.editable_flavors()
        fields = {
            name: self.get_body_argument(name, "")
            for name in self.request.body_arguments
            if name.startswith(ACCESS_PREFIX)
        }
        try:
            table = parse_form(lambda name: self.get_body_argument(name, ""), rows)
            access = parse_access(fields, list(self.core.flavors), group)
        except (QuotaError, AccessError) as error:
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
            wanted = {"quotas": table or None, ACCESS_FIELD: access or None}
            changed = {
                field: (settings.get(field) or None, after)
                for field, after in wanted.items()
                if (settings.get(field) or None) != after
            }
            if not changed:
                self.redirect(f"{self.app.service_prefix}admin#quotas", status=303)
                return
            for field, (_, after) in changed.items():
                if after is None:
                    settings.pop(field, None)
                else:
                    settings[field] = after
            await hub.set_group_properties(group, {**properties, key: settings})
        except HubAPIError as error:
            if ": 403 " in str(error):
                await self.show(502, error=NO_SCOPE)
                return
            raise
        now = utcnow()
        for field, (before, after) in changed.items():
            await QuotaChanges(self.core.store).record(
                QuotaChange(group, principal.name, now, before, after, field)
            )
        target = f"{self.app.service_prefix}admin?changed={quote(group)}#quotas"
        self.redirect(target, status=303)

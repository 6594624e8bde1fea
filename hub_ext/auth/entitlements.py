"""EGI Check-in style group entitlements (AARC-G002 URNs) turned into JupyterHub group names.

An entitlement reads ``urn:mace:egi.eu:group:<vo>[:<subgroup>...][:role=<role>]#<authority>``,
e.g. ``urn:mace:egi.eu:group:vo.ai4eosc.eu:role=member#aai.egi.eu``. The group path is the VO
followed by its subgroups (``vo.ai4eosc.eu:ml-experts``). A member of a listed path joins the
JupyterHub group it is mapped to; a role other than the plain ones (``member``) also joins
``<group>:<role>``. Entitlements that do not parse, or come from a namespace or authority not
configured, are ignored with a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from traitlets import Bool, Dict, List, Set, Unicode
from traitlets.config import LoggingConfigurable

_URN = re.compile(
    r"^urn:(?P<namespace>[^#]+?):group:(?P<path>[^:#=]+(?::[^:#=]+)*)"
    r"(?::role=(?P<role>[^:#=]+))?#(?P<authority>[^#\s]+)$"
)


@dataclass(frozen=True)
class Entitlement:
    """One parsed group entitlement."""

    namespace: str  # "mace:egi.eu"
    path: tuple[str, ...]  # ("vo.ai4eosc.eu", "ml-experts")
    role: str | None  # "member", "manager", or None when the URN carries none
    authority: str  # "aai.egi.eu"

    @property
    def vo(self) -> str:
        return self.path[0]


def parse_entitlement(urn: str) -> Entitlement | None:
    """The entitlement a URN names, or None when it is not a group entitlement URN."""
    match = _URN.match(urn.strip()) if isinstance(urn, str) else None
    if match is None:
        return None
    return Entitlement(
        namespace=match["namespace"],
        path=tuple(match["path"].split(":")),
        role=match["role"],
        authority=match["authority"],
    )


class EntitlementMapper(LoggingConfigurable):
    """Maps a user's ``eduperson_entitlement`` URNs to JupyterHub group names."""

    namespaces = List(
        Unicode(),
        ["mace:egi.eu"],
        config=True,
        help="URN namespaces (between `urn:` and `:group:`) whose entitlements count.",
    )
    authorities = List(
        Unicode(),
        ["aai.egi.eu"],
        config=True,
        help="Group authorities (after `#`) whose entitlements count.",
    )
    groups = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="""Group path (VO, then subgroups, joined by `:`) -> JupyterHub group name, e.g.
        {"vo.ai4eosc.eu": "ai4eosc", "vo.ai4eosc.eu:ml-experts": "ml-experts"}.""",
    )
    map_unlisted = Bool(
        False,
        config=True,
        help="""Give paths missing from `groups` a JupyterHub group named after the path
        itself (`vo.ai4eosc.eu:ml-experts`); when False they are ignored.""",
    )
    plain_roles = Set(
        Unicode(),
        {"member"},
        config=True,
        help="Roles that only mean membership: they add no `<group>:<role>` group.",
    )

    def group_of(self, entitlement: Entitlement) -> str | None:
        """The JupyterHub group of an entitlement's path, or None when unmapped."""
        path = ":".join(entitlement.path)
        if path in self.groups:
            return str(self.groups[path])
        return path if self.map_unlisted else None

    def map(self, urns: Iterable[str] | None, log: logging.Logger | None = None) -> set[str]:
        """The JupyterHub groups a user's entitlements make them a member of."""
        log = log or self.log
        result: set[str] = set()
        for urn in urns or ():
            entitlement = parse_entitlement(urn)
            if entitlement is None:
                log.warning("Ignoring entitlement %r: not a group entitlement URN", urn)
                continue
            if entitlement.namespace not in self.namespaces:
                log.info("Ignoring entitlement %r: namespace not configured", urn)
                continue
            if entitlement.authority not in self.authorities:
                log.info("Ignoring entitlement %r: authority not configured", urn)
                continue
            group = self.group_of(entitlement)
            if group is None:
                continue
            result.add(group)
            if entitlement.role and entitlement.role not in self.plain_roles:
                result.add(f"{group}:{entitlement.role}")
        return result

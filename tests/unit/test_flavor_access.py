"""Flavor access: the catalog's groups, opened or closed by a group's properties."""

from __future__ import annotations

from typing import Any

import pytest

from hub_ext.catalog import AcceleratorCatalog
from hub_ext.flavor_access import (
    AccessError,
    GroupAccess,
    access_table,
    check_access_table,
)
from hub_ext.flavors import Flavor
from hub_ext.service.policy import QuotaPolicy
from hub_ext.spawner.options import OptionsError, validate_options

A100 = Flavor(
    slug="a100", display_name="A100", kind="gpu", resource="nvidia.com/gpu", groups=("ml-experts",)
)
T4 = Flavor(slug="t4", display_name="T4", kind="gpu", resource="nvidia.com/gpu")


def props(**flavors: str) -> dict[str, Any]:
    return {"accelhub": {"flavors": flavors}}


def test_the_catalog_restricts_a_flavor_to_its_groups() -> None:
    assert GroupAccess.names(["ml-experts"]).may_use(A100)
    assert not GroupAccess.names(["physics"]).may_use(A100)
    assert not GroupAccess.names([]).may_use(A100)
    assert GroupAccess.names([]).may_use(T4)  # no restriction: users in no group too
    refusal = GroupAccess.names(["physics"]).refusal(A100)
    assert refusal == "a100 is only for members of ml-experts."


def test_a_group_property_opens_a_restricted_flavor_to_that_group_only() -> None:
    opened = GroupAccess.of({"physics": props(a100="open"), "bio": None})
    assert opened.may_use(A100)
    assert GroupAccess.of({"bio": props(a100="open")}).may_use(T4)
    assert not GroupAccess.of({"bio": None}).may_use(A100)
    assert opened.usable([T4, A100]) == [T4, A100]


def test_a_group_property_closes_a_flavor_unless_another_group_may() -> None:
    closed = GroupAccess.of({"ml-experts": props(a100="closed")})
    assert not closed.may_use(A100)
    assert closed.refusal(A100, "A100") == "A100 is closed to ml-experts by an administrator."
    assert not GroupAccess.of({"physics": props(t4="closed")}).may_use(T4)
    both = GroupAccess.of({"physics": props(t4="closed"), "bio": None})
    assert both.may_use(T4)  # bio is not closed and the catalog restricts t4 to no one


def test_unknown_slugs_and_bad_values_in_properties_are_ignored() -> None:
    raw = {"accelhub": {"flavors": {"h100": "open", "t4": "maybe", "a100": 1}}}
    assert access_table(raw) == {"h100": "open"}
    assert GroupAccess.of({"physics": raw}).usable([T4, A100]) == [T4]
    assert access_table({"accelhub": {"flavors": ["t4"]}}) == {}
    assert access_table({"other-key": {"flavors": {"t4": "closed"}}}) == {}
    assert access_table({"x": {"flavors": {"t4": "closed"}}}, key="x") == {"t4": "closed"}


def test_the_checked_table_names_the_bad_field() -> None:
    assert check_access_table({"a100": "open"}, "f", ["a100"]) == {"a100": "open"}
    with pytest.raises(AccessError, match=r"names the flavor 'h100', which is not in the catalog"):
        check_access_table({"h100": "open"}, "The flavors of physics", ["a100"])
    with pytest.raises(AccessError, match=r"\['a100'\] must be 'open' or 'closed', not 'yes'"):
        check_access_table({"a100": "yes"}, "The flavors of physics", ["a100"])
    with pytest.raises(AccessError, match="must be a table of flavors"):
        check_access_table(["a100"], "The flavors of physics")


def test_the_spawner_validator_and_the_service_policy_decide_alike() -> None:
    catalog = AcceleratorCatalog(
        flavors=[
            {"slug": "cpu", "display_name": "CPU", "kind": "cpu"},
            {
                "slug": "a100",
                "display_name": "A100",
                "kind": "gpu",
                "resource": "nvidia.com/gpu",
                "groups": ["ml-experts"],
            },
        ]
    )
    groups = {"physics": props(a100="open")}
    access = QuotaPolicy().access(groups)
    assert [f.slug for f in catalog.for_groups(access)] == ["cpu", "a100"]
    assert validate_options({"flavor": "a100"}, catalog, access).flavor.slug == "a100"
    with pytest.raises(OptionsError, match="only for members of ml-experts") as refused:
        validate_options({"flavor": "a100"}, catalog, ["physics"])
    assert refused.value.reason == "not_allowed"
    closed = GroupAccess.of({"ml-experts": props(a100="closed")})
    with pytest.raises(OptionsError, match="A100 is closed to ml-experts by an administrator"):
        validate_options({"flavor": "a100"}, catalog, closed)

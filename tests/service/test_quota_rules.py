"""One set of quota rules for the config file and the admin page's form."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from traitlets import TraitError
from traitlets.config import Config

from hub_ext.service.hubapi import merged_properties
from hub_ext.service.ledger import Grant, Refusal
from hub_ext.service.policy import QuotaPolicy
from hub_ext.service.quota_editor import parse_form
from hub_ext.service.quota_rules import QuotaError, check_quota_table
from tests.service.helpers import FixedCapacity, make_core

ROWS = [("a100", "A100"), ("*", "every other flavor")]


def test_a_good_table_passes_and_nulls_mean_no_limit() -> None:
    table = {"a100": {"devices": 4, "per_user": 1}, "*": {"devices": None}}
    assert check_quota_table(table, "q", {"a100"}) == {
        "a100": {"devices": 4, "per_user": 1},
        "*": {"devices": None, "per_user": None},
    }


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ([1], "q must be a table of flavors"),
        ({"a100": 4}, "q['a100'] must be {\"devices\": N"),
        ({"a100": {"devices": -1}}, "q['a100']['devices'] must be between 0 and"),
        ({"a100": {"devices": "3"}}, "q['a100']['devices'] must be a whole number"),
        ({"a100": {"devices": True}}, "q['a100']['devices'] must be a whole number"),
        ({"a100": {"devices": 1.5}}, "must be a whole number"),
        ({"a100": {"gpus": 1}}, "q['a100'] has the unknown field 'gpus'"),
        ({"h100": {"devices": 1}}, "names the flavor 'h100', which is not in the catalog"),
    ],
)
def test_a_bad_table_gets_a_sentence_naming_the_field(table: object, words: str) -> None:
    with pytest.raises(QuotaError) as caught:
        check_quota_table(table, "q", {"a100"})
    assert words in str(caught.value)


def test_the_config_file_is_held_to_the_same_rules() -> None:
    config = Config()
    config.QuotaPolicy.group_quotas = {"bio": {"*": {"devices": -2, "per_user": 1}}}
    with pytest.raises(TraitError, match=r"group_quotas\['bio'\]\['\*'\]\['devices'\] must be"):
        QuotaPolicy(config=config)
    config = Config()
    config.QuotaPolicy.default_quota = {"*": {"per_member": 1}}
    with pytest.raises(TraitError, match="unknown field 'per_member'"):
        QuotaPolicy(config=config)
    assert QuotaPolicy(group_quotas={"bio": {"*": {"devices": 3}}}).group_quotas == {
        "bio": {"*": {"devices": 3, "per_user": None}}
    }


def form(**fields: str):  # type: ignore[no-untyped-def]
    return lambda name: fields.get(name.replace(":", "__").replace("*", "star"), "")


def test_the_form_reads_limits_closed_and_inherited_rows() -> None:
    table = parse_form(
        form(mode__a100="limit", devices__a100=" 3 ", per_user__a100="", mode__star="closed"),
        ROWS,
    )
    assert table == {"a100": {"devices": 3, "per_user": None}, "*": {"devices": 0, "per_user": 0}}
    assert parse_form(form(), ROWS) == {}  # every row inherits: the config file applies


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("two", "The devices for the group of A100 must be a whole number of 0 or more"),
        ("-1", "The devices for the group of A100 must be between 0 and 100000, not -1."),
    ],
)
def test_bad_form_input_names_the_field(value: str, words: str) -> None:
    with pytest.raises(QuotaError) as caught:
        parse_form(form(mode__a100="limit", devices__a100=value), ROWS)
    assert words in str(caught.value)


async def test_a_closed_flavor_is_refused_as_not_allowed_unless_another_group_opens_it(
    engine: AsyncEngine,
) -> None:
    core = make_core(
        engine,
        {"physics": ["ada", "pia"], "bio": ["pia"]},
        group_quotas={
            "physics": {"a100": {"devices": 0, "per_user": 0}},
            "bio": {"a100": {"devices": 2, "per_user": 1}},
        },
        # users outside any group would get a100: a closed group must not fall back to this
        default_quota={"*": {"devices": 4, "per_user": 1}},
        capacity=FixedCapacity(a100=8),
    )
    await core.load()
    refused = await core.admit("ada", "", "a100", 1)
    assert isinstance(refused, Refusal) and refused.reason == "not_allowed", refused
    assert refused.message == "a100 is closed to physics by an administrator."
    assert isinstance(await core.admit("pia", "", "a100", 1), Grant)  # bio opens it to pia
    await core.store.close()


async def test_a_quota_of_zero_beside_a_closed_group_reads_as_both_facts(
    engine: AsyncEngine,
) -> None:
    """A closed group is no quota to be used up; a zero quota is not "used up (0 of 0)"."""
    core = make_core(
        engine,
        {"physics": ["rita"], "hackathon": ["rita"]},
        group_quotas={
            "physics": {"a100": {"devices": 0, "per_user": 0}},
            "hackathon": {"*": {"devices": 0}},
        },
        capacity=FixedCapacity(a100=8),
    )
    await core.load()
    refused = await core.admit("rita", "", "a100", 1)
    assert isinstance(refused, Refusal) and refused.reason == "quota", refused
    assert refused.message == (
        "The quota of group hackathon for a100 is 0 devices. "
        "It is closed to physics by an administrator."
    )
    await core.store.close()


def test_groups_the_service_creates_keep_quotas_edited_since() -> None:
    """AccelhubService.hub_groups sets its properties at each start; an admin's quotas stay."""
    edited = {"accelhub": {"hackathon": True, "quotas": {"*": {"devices": 1}}}, "x": 1}
    assert merged_properties(edited, {"accelhub": {"hackathon": True}}) == edited
    assert merged_properties(edited, {"accelhub": {"hackathon": False}, "y": 2}) == {
        "accelhub": {"hackathon": False, "quotas": {"*": {"devices": 1}}},
        "x": 1,
        "y": 2,
    }

"""One validator for form and REST user options."""

from __future__ import annotations

import pytest

from hub_ext.catalog import AI_INFN_CATALOG, AcceleratorCatalog
from hub_ext.spawner.options import OptionsError, options_from_form, validate_options

CAT = AcceleratorCatalog(catalog_file=AI_INFN_CATALOG)


def test_empty_options_take_the_defaults() -> None:
    sel = validate_options({}, CAT, [])
    assert sel.flavor.slug == "cpu"
    assert sel.count == 0 and sel.cpu == 1 and sel.memory == "4Gi"
    assert sel.image == CAT.get("cpu").images[0]


def test_json_options_are_checked_against_the_flavor() -> None:
    sel = validate_options({"flavor": "t4", "count": 2, "cpu": "8", "memory": "32Gi"}, CAT, [])
    assert (sel.flavor.slug, sel.count, sel.cpu, sel.memory) == ("t4", 2, 8.0, "32Gi")


@pytest.mark.parametrize(
    ("options", "groups", "message"),
    [
        ({"flavor": "h100"}, [], "There is no accelerator flavor called 'h100'"),
        ({"flavor": 3}, [], "The flavor must be a name"),
        ({"flavor": "t4", "count": 3}, [], "comes in counts of 1, 2 device(s), not 3"),
        ({"flavor": "t4", "count": "two"}, [], "whole number, not 'two'"),
        ({"flavor": "t4", "count": True}, [], "whole number"),
        ({"flavor": "cpu", "count": 1}, [], "has no accelerator"),
        ({"flavor": "t4", "cpu": 64}, [], "offers 4, 8 CPU cores, not 64"),
        ({"flavor": "t4", "memory": "1Ti"}, [], "offers 16Gi, 32Gi of memory"),
        ({"flavor": "t4", "memory": "9" * 400}, [], "offers 16Gi, 32Gi of memory, not '999"),
        ({"flavor": "t4", "cpu": "9" * 400}, [], "The CPU amount must be a number of cores"),
        ({"flavor": "t4", "image": "evil/miner"}, [], "cannot use image 'evil/miner'"),
        ({"flavor": "fpga-u55c"}, ["physics"], "only for members of fpga-users"),
        ({"flavor": "t4", "profile": "x"}, [], "Unknown option 'profile'"),
    ],
)
def test_bad_options_are_refused_in_words(
    options: dict[str, object], groups: list[str], message: str
) -> None:
    with pytest.raises(OptionsError) as info:
        validate_options(options, CAT, groups)
    assert message in str(info.value)


def test_group_member_may_use_restricted_flavor() -> None:
    assert validate_options({"flavor": "fpga-u55c"}, CAT, ["fpga-users"]).count == 1


def test_form_fields_of_the_chosen_flavor_only() -> None:
    form = {
        "_xsrf": ["token"],
        "flavor": ["t4"],
        "t4--count": ["2"],
        "t4--cpu": ["8"],
        "rtx5000--count": ["3"],
        "cpu--memory": ["32Gi"],
    }
    options = options_from_form(form)
    assert options == {"flavor": "t4", "count": "2", "cpu": "8"}
    assert validate_options(options, CAT, []).count == 2


def test_unknown_form_field_is_refused() -> None:
    options = options_from_form({"flavor": ["cpu"], "offloading": ["on"]})
    with pytest.raises(OptionsError, match="Unknown option 'offloading'"):
        validate_options(options, CAT, [])

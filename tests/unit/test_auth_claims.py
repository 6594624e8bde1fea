"""Groups from real-shaped provider claims: IAM `groups`, EGI Check-in entitlements."""

from __future__ import annotations

import logging

import pytest
from traitlets.config import Config

from hub_ext.auth import AccelhubOAuthenticator, EntitlementMapper, parse_entitlement
from hub_ext.auth.discovery import DiscoveryError
from tests.helpers.net import free_port

AI4EOSC = "urn:mace:egi.eu:group:vo.ai4eosc.eu"


def mapper(**traits: object) -> EntitlementMapper:
    config = Config({"EntitlementMapper": traits})
    return EntitlementMapper(config=config)


def test_parse_vo_membership_with_role() -> None:
    urn = f"{AI4EOSC}:role=member#aai.egi.eu"
    parsed = parse_entitlement(urn)
    assert parsed is not None
    assert (parsed.namespace, parsed.path, parsed.role, parsed.authority) == (
        "mace:egi.eu",
        ("vo.ai4eosc.eu",),
        "member",
        "aai.egi.eu",
    )


def test_parse_subgroup_without_role() -> None:
    parsed = parse_entitlement(f"{AI4EOSC}:ml-experts:gpu#aai.egi.eu")
    assert parsed is not None
    assert parsed.path == ("vo.ai4eosc.eu", "ml-experts", "gpu")
    assert parsed.role is None
    assert parsed.vo == "vo.ai4eosc.eu"


@pytest.mark.parametrize(
    "urn",
    [
        "vo.ai4eosc.eu",  # a bare VO name
        "urn:mace:egi.eu:group:vo.ai4eosc.eu:role=member",  # no authority
        "urn:mace:egi.eu:vo.ai4eosc.eu:role=member#aai.egi.eu",  # no `group` part
        "urn:mace:egi.eu:group::role=member#aai.egi.eu",  # empty group path
        "urn:mace:egi.eu:group:vo.ai4eosc.eu:role=#aai.egi.eu",  # empty role
        "urn:mace:egi.eu:group:vo.ai4eosc.eu:role=member:extra#aai.egi.eu",  # path after role
        "",
    ],
)
def test_malformed_urns_are_not_entitlements(urn: str) -> None:
    assert parse_entitlement(urn) is None


def test_vo_member_joins_the_vo_group_and_roles_add_role_groups() -> None:
    m = mapper(groups={"vo.ai4eosc.eu": "ai4eosc", "vo.ai4eosc.eu:ml-experts": "ml-experts"})
    urns = [
        f"{AI4EOSC}:role=member#aai.egi.eu",
        f"{AI4EOSC}:role=vm_operator#aai.egi.eu",
        f"{AI4EOSC}:ml-experts:role=manager#aai.egi.eu",
    ]
    assert m.map(urns) == {"ai4eosc", "ai4eosc:vm_operator", "ml-experts", "ml-experts:manager"}


def test_membership_without_role_and_unlisted_paths() -> None:
    urns = [f"{AI4EOSC}#aai.egi.eu", f"{AI4EOSC}:fpga#aai.egi.eu"]
    assert mapper(groups={"vo.ai4eosc.eu": "ai4eosc"}).map(urns) == {"ai4eosc"}
    assert mapper(groups={"vo.ai4eosc.eu": "ai4eosc"}, map_unlisted=True).map(urns) == {
        "ai4eosc",
        "vo.ai4eosc.eu:fpga",
    }


def test_foreign_and_malformed_entitlements_are_ignored_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = mapper(groups={"vo.ai4eosc.eu": "ai4eosc"}, map_unlisted=True)
    urns = [
        "urn:geant:example.org:group:vo.ai4eosc.eu:role=member#other.aai",  # other namespace
        f"{AI4EOSC}:role=member#login.example.org",  # other authority
        "not-an-urn",
        f"{AI4EOSC}:role=member#aai.egi.eu",
    ]
    log = logging.getLogger("test-entitlements")
    with caplog.at_level(logging.INFO, logger="test-entitlements"):
        assert m.map(urns, log=log) == {"ai4eosc"}
    messages = [record.getMessage() for record in caplog.records]
    assert any("not-an-urn" in msg and "not a group entitlement" in msg for msg in messages)
    assert any("urn:geant" in msg and "namespace" in msg for msg in messages)
    assert any("login.example.org" in msg and "authority" in msg for msg in messages)


def authenticator(**traits: object) -> AccelhubOAuthenticator:
    config = Config({"AccelhubOAuthenticator": {"client_id": "hub", **traits}})
    return AccelhubOAuthenticator(config=config)


async def test_iam_groups_claim_gives_hub_groups() -> None:
    auth = authenticator()
    user_info = {"preferred_username": "rita", "groups": ["ai-infn", "/ml-experts", "fpga-users"]}
    groups = await auth.get_user_groups({"oauth_user": user_info})
    assert groups == {"ai-infn", "ml-experts", "fpga-users"}


async def test_checkin_entitlements_give_hub_groups() -> None:
    auth = authenticator(groups_claim="", entitlements_claim="eduperson_entitlement")
    auth.mapper.groups = {"vo.ai4eosc.eu": "ai4eosc", "vo.ai4eosc.eu:hackathon": "hackathon"}
    user_info = {
        "groups": ["ignored"],
        "eduperson_entitlement": [
            f"{AI4EOSC}:role=member#aai.egi.eu",
            f"{AI4EOSC}:hackathon:role=member#aai.egi.eu",
            "urn:mace:egi.eu:group:vo.other.eu:role=member#aai.egi.eu",
        ],
    }
    assert await auth.get_user_groups({"oauth_user": user_info}) == {"ai4eosc", "hackathon"}


def test_defaults_manage_groups_with_encrypted_auth_state() -> None:
    auth = authenticator(allowed_groups={"ai-infn"}, admin_groups={"accelhub-admins"})
    assert auth.manage_groups is True
    assert auth.enable_auth_state is True
    assert auth.refresh_pre_spawn is True  # oauthenticator: on when auth state is kept
    assert auth.username_claim == "preferred_username"
    assert "offline_access" in auth.scope


def test_an_unreachable_issuer_stops_start_up_with_a_sentence() -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DiscoveryError, match=r"^cannot read the OIDC discovery document http"):
        authenticator(issuer=issuer)

"""Admins edit a group's quotas on the admin page, under a real JupyterHub: stored as the
group's properties, obeyed by the next admission, listed as a change; others are refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.hubstack import Hub, start_hub
from tests.service.test_hub_integration import admit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub whose service caches groups for 10 minutes: only the edit's own invalidation can
    make a changed quota apply at once."""
    state: Path = tmp_path_factory.mktemp("hub")
    running = start_hub(
        state / "hub",
        f"sqlite:///{state / 'accelhub.sqlite'}",
        "c.AccelhubService.group_cache_seconds = 600.0\n",
    )
    try:
        yield running
    finally:
        running.stop()


def post_quotas(hub: Hub, who: str, group: str, fields: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{hub.service_url}admin/quotas/{group}",
        data=fields,
        headers={"Authorization": f"token {hub.token_for(who)}"},
        timeout=30,
    )


def admin_page(hub: Hub) -> str:
    response = httpx.get(
        hub.service_url + "admin",
        headers={"Authorization": f"token {hub.token_for('boss')}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.text


def bio_properties(hub: Hub) -> dict[str, Any]:
    return dict(hub.hub_api("GET", "/groups/bio").json()["properties"])


def changes_section(page: str) -> str:
    return page[page.index('id="changes-head"') : page.index('id="res"')]


def test_an_edited_quota_applies_to_the_next_admission_and_is_listed(hub: Hub) -> None:
    # the config file gives bio 3 devices of any flavor; dee's grant caches bio's properties
    first = admit(hub, "dee", "a100", "one")
    assert first["granted"], first
    saved = post_quotas(
        hub,
        "boss",
        "bio",
        {"mode:a100": "limit", "devices:a100": "1", "per_user:a100": "", "mode:*": "inherit"},
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["Location"].endswith("admin?changed=bio#quotas")
    assert bio_properties(hub) == {
        "accelhub": {"quotas": {"a100": {"devices": 1, "per_user": None}}}
    }
    refused = admit(hub, "eve", "a100")
    assert refused["granted"] is False and refused["reason"] == "quota", refused
    assert refused["in_use"]["group_quota"] == 1
    assert admit(hub, "eve", "t4", "t4")["granted"]  # other flavors still follow the config file
    page = admin_page(hub)
    listed = changes_section(page)
    assert "boss" in listed and "bio" in listed, listed
    assert "the config file&#x27;s quotas" in listed or "the config file's quotas" in listed
    assert "1 device for the group, no limit per member" in listed, listed
    # back to the config file: the group's own table goes, and the change is listed too
    reset = post_quotas(hub, "boss", "bio", {"mode:a100": "inherit", "mode:*": "inherit"})
    assert reset.status_code == 303, reset.text
    assert "quotas" not in bio_properties(hub).get("accelhub", {})
    assert admit(hub, "eve", "a100")["granted"]
    assert changes_section(admin_page(hub)).count("<tr>") == 3  # header and two changes


def test_bad_input_gets_a_sentence_naming_the_field_and_changes_nothing(hub: Hub) -> None:
    before = bio_properties(hub)
    bad = post_quotas(hub, "boss", "bio", {"mode:t4": "limit", "devices:t4": "lots"})
    assert bad.status_code == 400
    assert "The quotas of bio were not saved: The devices for the group of T4 must be a whole" in (
        bad.text
    )
    assert "Traceback" not in bad.text and "QuotaError" not in bad.text
    assert bio_properties(hub) == before
    missing = post_quotas(hub, "boss", "nosuch", {"mode:t4": "closed"})
    assert missing.status_code == 404 and "no group called &#x27;nosuch&#x27;" in missing.text


def test_only_admins_edit_quotas(hub: Hub) -> None:
    before = bio_properties(hub)
    for who in ("dee", "org"):  # a member of the group, an organiser
        refused = post_quotas(hub, who, "bio", {"mode:*": "closed"})
        assert refused.status_code == 403, refused.text
    assert bio_properties(hub) == before


def test_closing_a_flavor_to_a_group_applies_at_once_and_is_listed(hub: Hub) -> None:
    admit(hub, "dee", "t4", "before")  # caches bio's properties; only the edit refreshes them
    closed = post_quotas(hub, "boss", "bio", {"access:t4": "closed", "access:a100": "catalog"})
    assert closed.status_code == 303, closed.text
    assert bio_properties(hub)["accelhub"]["flavors"] == {"t4": "closed"}
    refused = admit(hub, "dee", "t4", "after")  # pia could: physics may use t4
    assert refused["granted"] is False and refused["reason"] == "not_allowed", refused
    assert refused["message"] == "t4 is closed to bio by an administrator."
    listed = changes_section(admin_page(hub))
    assert "flavor access" in listed and "T4</strong>: closed to the group" in listed, listed
    assert "as the catalog says" in listed, listed
    reopened = post_quotas(hub, "boss", "bio", {"access:t4": "catalog"})
    assert reopened.status_code == 303, reopened.text
    assert "flavors" not in bio_properties(hub).get("accelhub", {})
    again = admit(hub, "dee", "t4", "after")  # open again: only quotas and caps decide
    assert again["granted"] or again["reason"] in ("quota", "user_cap"), again


def test_bad_flavor_access_gets_a_sentence_naming_the_field(hub: Hub) -> None:
    before = bio_properties(hub)
    bad = post_quotas(hub, "boss", "bio", {"access:t4": "maybe"})
    assert bad.status_code == 400
    assert (
        "The quotas of bio were not saved: The flavor access of bio[&#x27;t4&#x27;] must be "
        "&#x27;open&#x27; or &#x27;closed&#x27;, not &#x27;maybe&#x27;."
    ) in bad.text, bad.text[-2000:]
    unknown = post_quotas(hub, "boss", "bio", {"access:h100": "open"})
    assert unknown.status_code == 400
    assert "names the flavor &#x27;h100&#x27;, which is not in the catalog." in unknown.text
    assert "Traceback" not in bad.text + unknown.text and "AccessError" not in bad.text
    assert bio_properties(hub) == before

"""`accelhub values check` on the shipped helm-values and on broken overlays of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub_ext.values.check import check_files
from hub_ext.values.merge import merge_values

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "helm-values"
CHART = REPO.parent / "shared" / "z2jh" / "chart"
BASE = str(VALUES / "values.yaml")
COMBOS = [
    [],
    ["ai-infn.yaml"],
    ["hackathon.yaml"],
    ["postgresql.yaml"],
    ["ai-infn.yaml", "hackathon.yaml"],
    ["egi-checkin.yaml"],
    ["egi-checkin.yaml", "hackathon.yaml"],
]

needs_chart = pytest.mark.skipif(not CHART.is_dir(), reason="the z2jh chart is not in ../shared")


def test_helm_merge_maps_merge_lists_replace_nulls_delete() -> None:
    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": 1}}, "unset": None}
    over = {"a": {"c": [3], "d": None, "f": {"g": None, "h": 2}}}
    assert merge_values([base, over]) == {"a": {"b": 1, "c": [3], "f": {"h": 2}}}


@needs_chart
@pytest.mark.parametrize("overlays", COMBOS, ids=lambda o: "+".join(o) or "base")
def test_shipped_values_pass(overlays: list[str]) -> None:
    files = [BASE, *(str(VALUES / o) for o in overlays)]
    assert [str(p) for p in check_files(files, str(CHART))] == []


def test_shipped_values_pass_without_the_chart() -> None:
    assert check_files([BASE, str(VALUES / "ai-infn.yaml")]) == []


CATALOG = "hub.extraFiles.accelhub-catalog.data.flavors"
SERVICE = "hub.extraFiles.accelhub-service-config.data"
SVC = f"{SERVICE}.AccelhubService"
# case: (the dotted path an overlay of values.yaml sets, its value, the key the message must
# name when it is not that path)
BROKEN: dict[str, tuple[str, Any, str | None]] = {
    "flavor-kind": (
        CATALOG,
        [{"slug": "cpu", "display_name": "C", "kind": "gpuu"}],
        f"{CATALOG}[0].kind",
    ),
    "catalog-unmounted": ("hub.config.AcceleratorCatalog.catalog_file", "/etc/x.yaml", None),
    "service-other-catalog": (f"{SERVICE}.AcceleratorCatalog.catalog_file", "/srv/o.yaml", None),
    "service-config-unmounted": (
        "hub.services.accelhub.command",
        ["python3", "-m", "hub_ext.service", "--config=/x.py"],
        None,
    ),
    "kubernetes-off": (f"{SVC}.kubernetes", False, None),
    "relative-db": (f"{SVC}.db_url", "sqlite:///accelhub.sqlite", None),
    "quota-unknown-flavor": (
        f"{SERVICE}.QuotaPolicy.group_quotas",
        {"physics": {"t5": {"devices": 1}}},
        f"{SERVICE}.QuotaPolicy.group_quotas.physics.t5",
    ),
    "reservation-unknown-flavor": (
        f"{SVC}.startup_reservations",
        [{"group": "h", "flavor": "v100", "count": 2}],
        f"{SVC}.startup_reservations[0].flavor",
    ),
    "priority-class-typo": (
        CATALOG,
        [{"slug": "cpu", "display_name": "C", "kind": "cpu", "priority_class_name": "interactve"}],
        f"{CATALOG}[0].priority_class_name",
    ),
    "loopback-service-url": ("hub.services.accelhub.url", "http://127.0.0.1:10101", None),
    "port-not-exposed": ("hub.service.extraPorts", [], None),
    "netpol-ingress": ("hub.networkPolicy.ingress", [], None),
    "bind-loopback": (f"{SVC}.bind_url", "http://127.0.0.1:10101", None),
    "placeholder-token": ("hub.services.accelhub-spawner.apiToken", "set-me", None),
    "token-unwired": ("hub.extraConfig.accelhub-wiring", None, "hub.extraConfig"),
    "env-unwired": ("hub.extraConfig.accelhub-wiring", None, "hub.services.accelhub.environment"),
    "user-role-no-access": ("hub.loadRoles.user.scopes", ["self"], "hub.loadRoles.user"),
    "no-organiser-role": ("hub.loadRoles.accelhub-organisers", None, "hub.loadRoles"),
    "activity-url-unset": ("hub.config.ServicePolicy.activity_url", None, None),
    "singleuser-egress": ("singleuser.networkPolicy.egress", [], None),
    "culler-fights-reclaim": ("cull.timeout", 3600, None),
    "spawner-class": ("hub.config.JupyterHub.spawner_class", "kubespawner.KubeSpawner", None),
    "schema": ("hub.extraFile", {}, "hub"),
    "oidc-no-issuer": ("hub.config.AccelhubOAuthenticator.issuer", None, None),
    "oidc-secret-in-values": ("hub.config.AccelhubOAuthenticator.client_secret", "hunter2", None),
    "oidc-load-groups": (
        "hub.config.JupyterHub.load_groups",
        {"physics": {"users": ["rita"]}},
        None,
    ),
    "oidc-entitlements-unmapped": (
        "hub.config.AccelhubOAuthenticator.entitlements_claim",
        "eduperson_entitlement",
        "hub.config.EntitlementMapper.groups",
    ),
    "hub-groups-without-scope": (f"{SVC}.hub_groups", {"hackathon": {}}, None),
}


def overlay(path: str, value: Any) -> dict[str, Any]:
    """The values that set one dotted path (null deletes it, as in helm)."""
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return dict(out)


@needs_chart
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_values_name_their_key(case: str, tmp_path: Path) -> None:
    path, value, key = BROKEN[case]
    key = key or path
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(overlay(path, value)))
    problems = check_files([BASE, str(broken)], str(CHART))
    assert key in [p.key for p in problems] or any(p.key.startswith(key) for p in problems), (
        problems
    )


@needs_chart
def test_cli_exit_codes_and_messages(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "hub_ext.cli", "values", "check", "--chart", str(CHART)]
    ok = subprocess.run(
        [*cmd, BASE, str(VALUES / "ai-infn.yaml")], capture_output=True, text=True, cwd=REPO
    )
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("cull: {timeout: 60}\n")
    failed = subprocess.run([*cmd, BASE, str(bad)], capture_output=True, text=True, cwd=REPO)
    assert failed.returncode == 1
    assert failed.stderr.startswith("cull.timeout: 60 s culls servers")
    assert "Traceback" not in failed.stderr
    missing = subprocess.run([*cmd, str(tmp_path / "nope.yaml")], capture_output=True, text=True)
    assert missing.returncode == 1 and "cannot read it" in missing.stderr

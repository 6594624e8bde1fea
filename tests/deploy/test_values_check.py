"""`accelhub values check` on the shipped helm-values and on broken overlays of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
# (overlay over values.yaml, the key the message must name)
BROKEN: dict[str, tuple[str, str]] = {
    "flavor-kind": (
        "hub: {extraFiles: {accelhub-catalog: {data: {flavors: "
        "[{slug: cpu, display_name: C, kind: gpuu}]}}}}",
        f"{CATALOG}[0].kind",
    ),
    "catalog-unmounted": (
        "hub: {config: {AcceleratorCatalog: {catalog_file: /etc/elsewhere.yaml}}}",
        "hub.config.AcceleratorCatalog.catalog_file",
    ),
    "service-other-catalog": (
        "hub: {extraFiles: {accelhub-service-config: {data: "
        "{AcceleratorCatalog: {catalog_file: /srv/other.yaml}}}}}",
        f"{SERVICE}.AcceleratorCatalog.catalog_file",
    ),
    "service-config-unmounted": (
        "hub: {services: {accelhub: {command: [python3, -m, hub_ext.service, --config=/x.py]}}}",
        "hub.services.accelhub.command",
    ),
    "kubernetes-off": (
        "hub: {extraFiles: {accelhub-service-config: {data: {AccelhubService: "
        "{kubernetes: false}}}}}",
        f"{SERVICE}.AccelhubService.kubernetes",
    ),
    "relative-db": (
        "hub: {extraFiles: {accelhub-service-config: {data: {AccelhubService: "
        "{db_url: 'sqlite:///accelhub.sqlite'}}}}}",
        f"{SERVICE}.AccelhubService.db_url",
    ),
    "quota-unknown-flavor": (
        "hub: {extraFiles: {accelhub-service-config: {data: {QuotaPolicy: "
        "{group_quotas: {physics: {t5: {devices: 1}}}}}}}}",
        f"{SERVICE}.QuotaPolicy.group_quotas.physics.t5",
    ),
    "reservation-unknown-flavor": (
        "hub: {extraFiles: {accelhub-service-config: {data: {AccelhubService: "
        "{startup_reservations: [{group: h, flavor: v100, count: 2}]}}}}}",
        f"{SERVICE}.AccelhubService.startup_reservations[0].flavor",
    ),
    "priority-class-typo": (
        "hub: {extraFiles: {accelhub-catalog: {data: {flavors: [{slug: cpu, display_name: C, "
        "kind: cpu, priority_class_name: interactve}]}}}}",
        f"{CATALOG}[0].priority_class_name",
    ),
    "loopback-service-url": (
        "hub: {services: {accelhub: {url: 'http://127.0.0.1:10101'}}}",
        "hub.services.accelhub.url",
    ),
    "port-not-exposed": ("hub: {service: {extraPorts: []}}", "hub.service.extraPorts"),
    "netpol-ingress": ("hub: {networkPolicy: {ingress: []}}", "hub.networkPolicy.ingress"),
    "bind-loopback": (
        "hub: {extraFiles: {accelhub-service-config: {data: {AccelhubService: "
        "{bind_url: 'http://127.0.0.1:10101'}}}}}",
        f"{SERVICE}.AccelhubService.bind_url",
    ),
    "placeholder-token": (
        "hub: {services: {accelhub-spawner: {apiToken: set-me}}}",
        "hub.services.accelhub-spawner.apiToken",
    ),
    "token-unwired": ("hub: {extraConfig: {accelhub-wiring: null}}", "hub.extraConfig"),
    "env-unwired": (
        "hub: {extraConfig: {accelhub-wiring: null}}",
        "hub.services.accelhub.environment",
    ),
    "user-role-no-access": ("hub: {loadRoles: {user: {scopes: [self]}}}", "hub.loadRoles.user"),
    "no-organiser-role": ("hub: {loadRoles: {accelhub-organisers: null}}", "hub.loadRoles"),
    "activity-url-unset": (
        "hub: {config: {ServicePolicy: {activity_url: null}}}",
        "hub.config.ServicePolicy.activity_url",
    ),
    "singleuser-egress": (
        "singleuser: {networkPolicy: {egress: []}}",
        "singleuser.networkPolicy.egress",
    ),
    "culler-fights-reclaim": ("cull: {timeout: 3600}", "cull.timeout"),
    "spawner-class": (
        "hub: {config: {JupyterHub: {spawner_class: kubespawner.KubeSpawner}}}",
        "hub.config.JupyterHub.spawner_class",
    ),
    "schema": ("hub: {extraFile: {}}", "hub"),
    "oidc-no-issuer": (
        "hub: {config: {AccelhubOAuthenticator: {issuer: null}}}",
        "hub.config.AccelhubOAuthenticator.issuer",
    ),
    "oidc-secret-in-values": (
        "hub: {config: {AccelhubOAuthenticator: {client_secret: hunter2}}}",
        "hub.config.AccelhubOAuthenticator.client_secret",
    ),
    "oidc-load-groups": (
        "hub: {config: {JupyterHub: {load_groups: {physics: {users: [rita]}}}}}",
        "hub.config.JupyterHub.load_groups",
    ),
    "oidc-entitlements-unmapped": (
        "hub: {config: {AccelhubOAuthenticator: {entitlements_claim: eduperson_entitlement}}}",
        "hub.config.EntitlementMapper.groups",
    ),
    "hub-groups-without-scope": (
        "hub: {extraFiles: {accelhub-service-config: {data: {AccelhubService: "
        "{hub_groups: {hackathon: {}}}}}}}",
        f"{SERVICE}.AccelhubService.hub_groups",
    ),
}


@needs_chart
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_values_name_their_key(case: str, tmp_path: Path) -> None:
    overlay, key = BROKEN[case]
    path = tmp_path / "broken.yaml"
    path.write_text(overlay)
    assert yaml.safe_load(overlay)  # the case itself is valid YAML
    problems = check_files([BASE, str(path)], str(CHART))
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

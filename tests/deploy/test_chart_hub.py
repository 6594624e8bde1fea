"""The chart's own hub configuration runs accelhub's values.

For each shipped combination, what the z2jh chart mounts into the hub pod is rendered and
checked; for each of them a real JupyterHub is started with the chart's jupyterhub_config.py
(loaded from ../shared/z2jh/chart, unmodified) in the hub pod's namespaces, on devstack, behind
a real configurable-http-proxy: the accelhub service starts as the values define it, reaches the
cluster, answers at its proxied URL, and a user logs in and starts a CPU and a GPU server.
Users log in as the values configure it (AccelhubOAuthenticator for INFN IAM), through
devstack's OIDC provider started in the same namespaces; the provider's groups decide who may
log in, who is an admin, and which flavors the spawn form offers and the spawner accepts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from traitlets.config import Config

from devstack.oidc import OidcUser
from hub_ext.catalog import load_catalog_file
from hub_ext.service.app import AccelhubService
from tests.deploy import podns
from tests.deploy.chart_mounts import CONFIG_DIR, HubPod, render
from tests.deploy.chart_stack import (
    CHART,
    NAMESPACE,
    PUBLIC,
    RELEASE,
    VALUES,
    ChartHub,
    chart_hub,
)
from tests.helpers.oidc_login import offered_flavors
from tests.service.postgres import start_postgres

pytestmark = pytest.mark.skipif(not CHART.is_dir(), reason="the z2jh chart is not in ../shared")
COMBOS = {
    "base": [],
    "ai-infn": ["ai-infn.yaml"],
    "hackathon": ["hackathon.yaml"],
    "postgresql": ["postgresql.yaml"],
}
#: The Secrets an admin creates before installing (admin guide, steps 5 and 9); a started hub
#: gets the OIDC client's real secret in `accelhub-oidc` (chart_stack.chart_hub).
SECRETS = {
    "accelhub-oidc": {"client-secret": "the-oidc-client-secret"},
    "accelhub-db": {"hub.db.password": "not-needed-by-trust-auth"},
}


def _pod(combo: str) -> HubPod:
    files = [VALUES / "values.yaml", *(VALUES / o for o in COMBOS[combo])]
    return render(CHART, files, RELEASE, NAMESPACE, SECRETS)


@pytest.mark.parametrize("combo", sorted(COMBOS))
def test_chart_mounts_what_hub_and_service_read(combo: str, tmp_path: Path) -> None:
    pod = _pod(combo)
    values = yaml.safe_load(pod.files[f"{CONFIG_DIR}/secret/values.yaml"])
    assert values["Release"] == {"Name": RELEASE, "Namespace": NAMESPACE, "Service": "Helm"}
    assert values["Chart"]["Name"] == "jupyterhub"
    for name in ("accelhub", "accelhub-spawner"):  # generated, never from values
        assert len(pod.secret[f"hub.services.{name}.apiToken"]) == 64
    assert pod.files[f"{CONFIG_DIR}/config/hub"] == "hub"
    # The catalog file and the service's config file, as mounted, read by their real loaders.
    pod.write(tmp_path)
    catalog_path = values["hub"]["config"]["AcceleratorCatalog"]["catalog_file"]
    rel = Path(catalog_path).relative_to("/usr/local/etc")
    flavors = load_catalog_file(str(tmp_path / rel))
    shipped = values["hub"]["extraFiles"]["accelhub-catalog"]["data"]["flavors"]
    assert [f.slug for f in flavors] == [f["slug"] for f in shipped]
    command = values["hub"]["services"]["accelhub"]["command"]
    config_path = next(a.split("=", 1)[1] for a in command if a.startswith("--config="))
    service = AccelhubService(config=Config())
    service.load_config_file(str(tmp_path / Path(config_path).relative_to("/usr/local/etc")))
    assert service.config.AcceleratorCatalog.catalog_file == catalog_path
    assert service.config.AccelhubService.kubernetes is True
    assert pod.env["POD_NAMESPACE"] == NAMESPACE and pod.env["CONFIGPROXY_AUTH_TOKEN"]
    if combo == "postgresql":
        assert pod.files[f"{CONFIG_DIR}/existing-secret/hub.db.password"]
        assert "--upgrade-db" not in pod.args
    else:
        assert "--upgrade-db" in pod.args


def _spawn(client: httpx.Client, user: str, server: str, flavor: str) -> httpx.Response:
    xsrf = {"X-XSRFToken": client.cookies.get("_xsrf", "")}
    return client.post(
        f"/hub/api/users/{user}/servers/{server}", json={"flavor": flavor}, headers=xsrf
    )


def _user_token(client: httpx.Client, user: str) -> str:
    xsrf = {"X-XSRFToken": client.cookies.get("_xsrf", "")}
    response = client.post(f"/hub/api/users/{user}/tokens", json={"note": "t"}, headers=xsrf)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def _when_up(url: str, token: str, timeout: float = 90) -> httpx.Response:
    """GET ``url`` once the proxy routes it to the service (the hub adds the route when the
    service answers; until then the hub itself redirects)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=60)
        if response.status_code not in (302, 503) or time.monotonic() > deadline:
            return response
        time.sleep(1)


#: The identity provider's users (INFN IAM's `groups` claim); `ai-infn` may log in at all
#: (allowed_groups), `accelhub-admins` are admins (admin_groups).
PASSWORD = "iam-pw"
USERS = [
    OidcUser("ada", PASSWORD, ["ai-infn", "ml-experts"]),
    OidcUser("bob", PASSWORD, ["ai-infn", "accelhub-admins"]),
    OidcUser("hana", PASSWORD, ["ai-infn", "hackathon"]),
    OidcUser("out", PASSWORD, ["somewhere-else"]),
]
GROUPS = {user.name: set(user.groups) for user in USERS}
#: Per started combo: who logs in, the GPU flavor they start, a flavor their groups may not use.
STARTED = {
    "ai-infn": ("ada", "mig-1g-10gb", "fpga-u55c"),  # fpga-u55c: fpga-users only
    "postgresql": ("bob", "t4", None),  # the base catalog restricts no flavor
    "base": ("bob", "t4", None),
    "hackathon": ("hana", "t4", None),
}


def _check_login(stack: ChartHub, tmp: Path, user: str, refused_flavor: str | None) -> httpx.Client:
    """The hub's groups and admin flag are the provider's; the spawn form offers what the
    values' catalog allows those groups, and the spawner refuses a flavor of other groups."""
    client = stack.login(user)
    model = stack.api("GET", f"/users/{user}").json()
    assert set(model["groups"]) == GROUPS[user], model
    assert model["admin"] is ("accelhub-admins" in GROUPS[user]), model
    catalog = load_catalog_file(str(tmp / "etc" / "accelhub" / "catalog.yaml"))
    allowed = {f.slug for f in catalog if f.allows_group(sorted(GROUPS[user]))}
    form = client.get(f"/hub/spawn/{user}/form")
    assert form.status_code == 200, form.text[-2000:]
    assert offered_flavors(form.text) == allowed, form.text[-4000:]
    if refused_flavor is not None:
        assert refused_flavor not in allowed
        refused = _spawn(client, user, "refused", refused_flavor)
        assert refused.status_code in (201, 202), refused.text  # the spawner decides
        deadline = time.monotonic() + 60
        while stack.api("GET", f"/users/{user}").json()["servers"]:
            assert time.monotonic() < deadline, "the refused spawn did not end"
            time.sleep(0.5)
        page = client.get(f"/hub/spawn-pending/{user}/refused")
        assert "is only for members of fpga-users" in page.text, page.text[-3000:]
        # accelhub's spawn page (extraConfig accelhub-pages): the refusal in an alert, unlabelled
        client.get(f"/hub/spawn/{user}/form")  # refreshes the XSRF cookie
        xsrf = client.cookies.get("_xsrf", "")
        data = {"_xsrf": xsrf, "flavor": refused_flavor}
        form = client.post(f"/hub/spawn/{user}/form", data=data)
        name = next(f.display_name for f in catalog if f.slug == refused_flavor)
        alert = f'<span class="accelhub-refusal" role="alert">{name} is only for members of'
        assert alert in form.text and "Error:" not in form.text, form.text[-3000:]
    # The IAM values admit only members of `ai-infn`.
    _, outsider = stack.try_login("out")
    assert outsider.status_code == 403, outsider.text[-2000:]
    assert "out" not in {u["name"] for u in stack.api("GET", "/users").json()}
    return client


#: Hub pods started at once: each run is mostly one process at a time (devstack, then the
#: hub, then a server), so two keep a two-core machine busy; each has its own namespaces.
POD_RUNS_AT_ONCE = 2


@pytest.fixture(scope="module")
def pod_runs(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[podns.Run]]]:
    """The selected combos' re-runs inside the hub pod's namespaces, started together when
    the first of them is reached, by test node id."""
    if podns.inside():
        yield {}
        return
    if not podns.can_enter():
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    test = test_chart_hub_runs_the_values.__name__
    nodeids = [
        item.nodeid
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.module is request.module
        and item.originalname == test
    ]
    pool = ThreadPoolExecutor(max_workers=POD_RUNS_AT_ONCE)
    try:
        yield {nodeid: pool.submit(podns.run_inside, nodeid) for nodeid in nodeids}
    finally:
        pool.shutdown(cancel_futures=True)


@pytest.mark.timeout(2 * podns.RUN_TIMEOUT + 60)  # its own run, and one run before it
@pytest.mark.parametrize("combo", sorted(STARTED))
def test_chart_hub_runs_the_values(
    combo: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    pod_runs: dict[str, Future[podns.Run]],
) -> None:
    if not podns.inside():
        podns.check(pod_runs[request.node.nodeid].result())
        return
    user, gpu, refused_flavor = STARTED[combo]
    pg = None
    if combo == "postgresql":
        pg = start_postgres(port=5432)  # postgres.db.svc.cluster.local:5432 in the values
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE ROLE jupyterhub LOGIN")
            conn.execute("CREATE DATABASE jupyterhub OWNER jupyterhub")
            conn.execute("CREATE DATABASE accelhub OWNER jupyterhub")
    try:
        with chart_hub(tmp_path, COMBOS[combo], SECRETS, USERS) as stack:
            client = _check_login(stack, tmp_path, user, refused_flavor)
            # The service: started by the hub as the values define it, reached through the
            # proxy at its public URL with a user's own token (users' role wiring).
            token = _user_token(client, user)
            service = f"{PUBLIC}/services/accelhub/api/v1/"
            response = _when_up(service + "flavors", token)
            assert response.status_code == 200, response.text
            flavors = {f["slug"]: f for f in response.json()["flavors"]}
            shipped = stack.pod.values["hub"]["extraFiles"]["accelhub-catalog"]["data"]
            assert list(flavors) == [f["slug"] for f in shipped["flavors"]]
            # It reached the cluster: capacity of the GPU flavor comes from devstack's nodes.
            assert flavors[gpu]["capacity"] and flavors[gpu]["capacity"]["total"] > 0, flavors[gpu]

            for server, flavor in (("cpu", "cpu"), ("gpu", gpu)):
                started = _spawn(client, user, server, flavor)
                assert started.status_code in (201, 202), started.text
            for server in ("cpu", "gpu"):
                assert stack.wait_ready(user, server).get("ready"), server
            pods = {
                p["metadata"]["annotations"].get("hub.jupyter.org/servername"): p
                for p in stack.pods()
                if p["metadata"].get("annotations", {}).get("hub.jupyter.org/username") == user
            }
            assert pods["cpu"]["status"]["phase"] == "Running"
            assert pods["gpu"]["status"]["phase"] == "Running"
            limits = pods["gpu"]["spec"]["containers"][0]["resources"]["limits"]
            assert limits.get("nvidia.com/gpu") == "1", limits
            assert "nvidia.com/gpu" not in pods["cpu"]["spec"]["containers"][0]["resources"].get(
                "limits", {}
            )
            if combo == "hackathon":  # the service made the event's group, marked a hackathon
                group = stack.api("GET", "/groups/hackathon").json()
                assert group["properties"]["accelhub"] == {"hackathon": True}, group
                assert user in group["users"]
                claims = [
                    v["persistentVolumeClaim"]["claimName"]
                    for v in pods["gpu"]["spec"].get("volumes", [])
                    if "persistentVolumeClaim" in v
                ]
                assert "shared-hackathon" in claims, claims
            if combo == "ai-infn":
                assert pods["gpu"]["spec"].get("runtimeClassName") == "nvidia"
                assert pods["gpu"]["spec"]["nodeName"] == "a100-1"  # the single-strategy node
            env = {e["name"]: e.get("value") for e in pods["gpu"]["spec"]["containers"][0]["env"]}
            assert env.get("ACCELHUB_ACTIVITY_URL") == (
                "http://hub:10101/services/accelhub/api/v1/activity"
            )
            leases = httpx.get(
                service + "leases", headers={"Authorization": f"token {token}"}, timeout=60
            )
            assert leases.status_code == 200, leases.text
            for server in ("cpu", "gpu"):
                stack.api("DELETE", f"/users/{user}/servers/{server}")
            log = stack.hub.log_text()
            assert "Loading extra config: accelhub-wiring" in log
            assert "Loading extra config: accelhub-pages" in log
            if pg is not None:  # both kept their state in PostgreSQL, not on the volume
                with psycopg.connect(pg.url("jupyterhub")) as conn:
                    names = [r[0] for r in conn.execute("SELECT name FROM users")]
                    assert user in names
                with psycopg.connect(pg.url("accelhub")) as conn:
                    held = conn.execute('SELECT count(*) FROM leases WHERE "user" = %s', (user,))
                    assert held.fetchone()[0] >= 1
                assert not (tmp_path / "srv" / "jupyterhub" / "accelhub.sqlite").exists()
    finally:
        if pg is not None:
            pg.stop()

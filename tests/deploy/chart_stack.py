"""A hub pod as the z2jh chart runs it, on devstack: the chart's unmodified
jupyterhub_config.py, the mounts and env chart_mounts renders, a real configurable-http-proxy
as the chart's proxy pod runs it, and devstack's OIDC provider standing in for INFN IAM.
Only inside podns's namespaces."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devstack.oidc import OidcClient, OidcProvider, OidcUser
from tests.conftest import subprocess_env
from tests.deploy import podns
from tests.deploy.chart_mounts import HubPod, render
from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack
from tests.helpers.oidc_login import provider_login
from tests.helpers.processes import ServerProcess
from tests.helpers.service_accounts import hub_kubeconfig
from tests.helpers.waiting import server_settled

REPO = Path(__file__).resolve().parents[2]
CHART = REPO.parent / "shared" / "z2jh" / "chart"
VALUES = REPO / "helm-values"
RELEASE, NAMESPACE = "hub", "jhub"
PUBLIC = "http://127.0.0.1:8000"  # proxy-public, as the proxy pod listens
SA_DIR = "secrets/kubernetes.io/serviceaccount"
CALLBACK = f"{PUBLIC}/hub/oauth_callback"
#: The Secret holding the OIDC client's secret (hub.extraEnv.OAUTH_CLIENT_SECRET reads it).
OIDC_SECRET = "accelhub-oidc"


def test_overlay(path: Path, issuer: str, client_id: str) -> Path:
    """What a test site adds to the shipped values: its identity provider (devstack's, in
    place of INFN IAM: issuer, client and callback only; the client secret comes from the
    `accelhub-oidc` Secret as the values read it), an admin service for the test, and what
    devstack can run (it pulls no images and runs no privileged containers)."""
    overlay = {
        "hub": {
            "config": {
                "AccelhubOAuthenticator": {
                    "issuer": issuer,
                    "client_id": client_id,
                    "oauth_callback_url": CALLBACK,
                },
                "KubeSpawner": {"http_timeout": 90, "start_timeout": 180},
            },
            "services": {"test-admin": {}},
            "loadRoles": {
                "test-admin": {
                    "services": ["test-admin"],
                    "scopes": ["admin:users", "admin:servers", "read:groups", "read:hub", "tokens"],
                }
            },
        },
        "singleuser": {
            # devstack runs containers as local processes: no privileged iptables init
            # container (the chart's cloud-metadata block), and a local single-user command.
            "cloudMetadata": {"blockWithIptables": False},
            "cmd": [str(Path(sys.executable).parent / "jupyterhub-singleuser"), "--allow-root"],
            "extraEnv": {"JUPYTERHUB_SINGLEUSER_APP": "jupyter_server.serverapp.ServerApp"},
        },
    }
    path.write_text(json.dumps(overlay))
    return path


@dataclass
class ChartHub:
    """The running hub pod and how the test reaches it."""

    pod: HubPod
    devstack: RunningDevstack
    hub: ServerProcess
    proxy: ServerProcess
    provider: OidcProvider

    @property
    def admin_token(self) -> str:
        return self.pod.secret["hub.services.test-admin.apiToken"]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The hub's REST API through the proxy, as the test's admin service."""
        headers = {"Authorization": f"token {self.admin_token}"}
        return httpx.request(
            method, f"{PUBLIC}/hub/api{path}", headers=headers, timeout=60, **kwargs
        )

    def try_login(self, user: str) -> tuple[httpx.Client, httpx.Response]:
        """A browser-like client after logging in through the provider's login page, and the
        hub's answer (its landing page, or its refusal)."""
        client = httpx.Client(base_url=PUBLIC, timeout=60, follow_redirects=True)
        password = self.provider.users[user].password
        return client, provider_login(client, PUBLIC, user, password)

    def login(self, user: str) -> httpx.Client:
        """A browser-like client logged in through the provider's login page."""
        client, landed = self.try_login(user)
        assert landed.status_code == 200, f"{landed.status_code} {landed.text[-2000:]}"
        assert landed.url.path.startswith("/hub/") and landed.url.host == "127.0.0.1"
        assert client.cookies.get("jupyterhub-session-id"), landed.url
        return client

    def wait_ready(self, user: str, server: str, timeout: float = 150) -> dict[str, Any]:
        return server_settled(
            self.api, user, server, timeout, context=lambda: self.hub.log_text()[-6000:]
        )

    def pods(self) -> list[dict[str, Any]]:
        out = self.devstack.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout
        return list(json.loads(out)["items"])


def _wait(url: str, process: ServerProcess, timeout: float, headers: Any = None) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            last = httpx.get(url, headers=headers, timeout=5)
            if last.status_code == 200:
                return last
        time.sleep(0.5)
    raise RuntimeError(f"{url} answered {last!r}:\n{process.log_text()[-12000:]}")


@contextlib.contextmanager
def chart_hub(
    tmp: Path,
    overlays: Sequence[str],
    secrets_made: Mapping[str, Mapping[str, str]],
    users: Sequence[OidcUser],
) -> Iterator[ChartHub]:
    """devstack, the OIDC provider with ``users``, then the hub pod's mounts, the proxy and the
    hub, for values.yaml + overlays."""
    assert podns.inside(), "chart_hub runs only inside podns's namespaces"
    (tmp / "devstack").mkdir()
    ds = start_devstack(tmp / "devstack" / "state")
    processes: list[ServerProcess] = []
    client = OidcClient("accelhub-chart-test", secrets.token_hex(16), [CALLBACK])
    provider = OidcProvider(tmp / "oidc", users, [client])
    made = {**secrets_made, OIDC_SECRET: {"client-secret": client.client_secret}}
    try:
        provider.start()
        sa_kubeconfig = hub_kubeconfig(ds.kubeconfig, tmp / "hub-kubeconfig", NAMESPACE)
        token = json.loads(sa_kubeconfig.read_text())["users"][0]["user"]["token"]
        server = json.loads(ds.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        api_port = server.rsplit(":", 1)[1].strip("/")

        files = [str(VALUES / "values.yaml"), *(str(VALUES / o) for o in overlays)]
        site = test_overlay(tmp / "test-site.json", provider.issuer, client.client_id)
        files.append(str(site))
        pod = render(CHART, files, RELEASE, NAMESPACE, made)
        etc, run, srv = tmp / "etc", tmp / "run", tmp / "srv"
        pod.write(etc)
        (run / SA_DIR).mkdir(parents=True)
        (run / SA_DIR / "token").write_text(token)
        (run / SA_DIR / "namespace").write_text(NAMESPACE)
        shutil.copy(ds.ca_path, run / SA_DIR / "ca.crt")
        (srv / "jupyterhub").mkdir(parents=True)
        podns.bind(etc, "/usr/local/etc")
        podns.bind(run, "/run")
        podns.bind(srv, "/srv")
        podns.bind(podns.hosts_file(tmp / "hosts"), "/etc/hosts")

        base = subprocess_env()
        proxy_env = {
            "PATH": base["PATH"],
            "CONFIGPROXY_AUTH_TOKEN": pod.env["CONFIGPROXY_AUTH_TOKEN"],
        }
        chp = shutil.which("configurable-http-proxy", path=base["PATH"])
        assert chp, "configurable-http-proxy is not installed"
        proxy = ServerProcess(
            [
                chp,
                "--ip=",
                "--api-ip=",
                "--api-port=8001",
                "--default-target=http://hub:8081",
                "--error-target=http://hub:8081/hub/error",
                "--port=8000",
            ],
            tmp / "proxy.log",
            env=proxy_env,
        )
        processes.append(proxy)
        kubelet_env = {  # what the kubelet sets for the pod's Services
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": api_port,
            "HUB_SERVICE_HOST": "127.0.0.1",
            "HUB_SERVICE_PORT": "8081",
            "PROXY_API_SERVICE_HOST": "127.0.0.1",
            "PROXY_API_SERVICE_PORT": "8001",
            "PROXY_PUBLIC_SERVICE_HOST": "127.0.0.1",
            "PROXY_PUBLIC_SERVICE_PORT": "80",
        }
        hub_env = {
            "PATH": base["PATH"],
            "HOME": str(srv / "jupyterhub"),
            "PYTHONPATH": str(REPO),
            "LANG": "C.UTF-8",
            **kubelet_env,
            **pod.env,
        }
        hub = ServerProcess(
            [sys.executable, "-m", "jupyterhub", *pod.args],
            tmp / "hub.log",
            env=hub_env,
            cwd=Path("/srv/jupyterhub"),
        )
        processes.append(hub)
        _wait(f"{PUBLIC}/hub/api/", hub, 120)
        yield ChartHub(pod=pod, devstack=ds, hub=hub, proxy=proxy, provider=provider)
    except BaseException:
        for process in processes:  # shown with the failure, without the API polling
            lines = [ln for ln in process.log_text().splitlines() if "200 GET /hub/api" not in ln]
            print(f"==== {process.argv[:3]}\n" + "\n".join(lines[-150:]))
        if provider.log_path.exists():
            print("==== oidc-provider\n" + provider.log_path.read_text()[-6000:])
        raise
    finally:
        for process in reversed(processes):
            process.stop(timeout=45)
        provider.stop()
        stop_devstack(ds)

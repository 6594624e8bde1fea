"""`accelhub devstack restart-api`: the API server drops its connections and comes back on the
same port with the same objects, but without its watch history (old watches get 410)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    state = tmp_path_factory.mktemp("restart-devstack") / "state"
    ds = start_devstack(state, "none", None, "--restart-downtime", "0.5")
    yield ds
    stop_devstack(ds)


def client(ds: RunningDevstack) -> httpx.Client:
    return httpx.Client(
        base_url=ds.url,
        headers={"Authorization": f"Bearer {ds.token}"},
        verify=ssl.create_default_context(cafile=str(ds.ca_path)),
        timeout=10,
    )


def test_restart_keeps_objects_drops_watches_and_expires_old_versions(
    restartable: RunningDevstack,
) -> None:
    ds = restartable
    ds.kubectl("create", "configmap", "survivor", "-n", "default", "--from-literal=a=1")
    with client(ds) as http:
        listed = http.get("/api/v1/namespaces/default/configmaps").json()
        rv = listed["metadata"]["resourceVersion"]
        path = f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
        with http.stream("GET", path, timeout=30) as watch:
            ds.kubectl("create", "configmap", "later", "-n", "default", "--from-literal=b=2")
            ds.restart_api()
            with pytest.raises(httpx.HTTPError):  # the open watch ends with the restart
                for _ in watch.iter_lines():
                    pass
    deadline = time.monotonic() + 10
    while True:  # the same URL answers again, with the object written before the restart
        try:
            with client(ds) as http:
                got = http.get("/api/v1/namespaces/default/configmaps/survivor")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the API server did not come back"
            time.sleep(0.1)
    assert got.status_code == 200 and got.json()["data"] == {"a": "1"}
    with client(ds) as http:
        resumed = http.get(path + "&timeoutSeconds=1")
        assert resumed.status_code == 410 or '"code":410' in resumed.text.replace(" ", "")
        fresh = http.get("/api/v1/namespaces/default/configmaps").json()
        rv_now = fresh["metadata"]["resourceVersion"]
        ok = http.get(
            f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv_now}"
            "&timeoutSeconds=1"
        )
        assert ok.status_code == 200 and "410" not in ok.text

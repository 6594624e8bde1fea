"""A real JupyterHub with the AcceleratorSpawner on devstack (AI_INFN cluster)."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import httpx
import pytest

from hub_ext.capacity import NO_QUOTAS
from tests.devstack.conftest import RunningDevstack
from tests.spawner.hubstack import SpawnerHub
from tests.spawner.kube import get_pod, hold_devices, release, wait_phase

pytestmark = pytest.mark.integration
NS = "accelhub"
SINGLE_1G = {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"}


def form_counts(browser: httpx.Client) -> dict[str, tuple[str, str]]:
    html = browser.get("/hub/spawn").text
    out = {}
    for block in html.split('class="accelhub-flavor')[1:]:
        slug = re.search(r'data-flavor="([^"]+)"', block)
        free = re.search(r'data-free="([^"]*)" data-total="([^"]*)"', block)
        if slug and free:
            out[slug.group(1)] = (free.group(1), free.group(2))
    return out


def poll_form(browser: httpx.Client, slug: str, want: tuple[str, str]) -> None:
    deadline = time.monotonic() + 20
    seen: Any = None
    while time.monotonic() < deadline:
        seen = form_counts(browser).get(slug)
        if seen == want:
            return
        time.sleep(0.3)
    raise AssertionError(f"{slug}: form shows {seen}, wanted {want}")


def spawn(hub: SpawnerHub, user: str, server: str = "", **options: Any) -> httpx.Response:
    path = f"/users/{user}/server" if not server else f"/users/{user}/servers/{server}"
    return hub.api("POST", path, json=options)


def server_pod(hub: SpawnerHub, ds: RunningDevstack, user: str, server: str = "") -> dict[str, Any]:
    model = hub.wait_ready(user, server)
    assert model.get("ready"), model
    return get_pod(ds, NS, model["state"]["pod_name"])


def test_form_counts_pods_of_other_namespaces(
    spawner_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    browser = spawner_hub.login("bob")
    counts = form_counts(browser)
    assert counts["mig-1g-10gb"] == ("10", "10")  # one row: 3 mixed-node + 7 single-node slices
    assert [name for name in counts if name.startswith("mig-1g")] == ["mig-1g-10gb"]
    assert "fpga-u55c" not in counts  # bob is not in fpga-users
    hold_devices(spawner_devstack, "hackathon", "batch-mig", "nvidia.com/mig-1g.10gb", 2)
    hold_devices(spawner_devstack, "hackathon", "batch-one", "nvidia.com/gpu", 1, SINGLE_1G)
    try:
        poll_form(browser, "mig-1g-10gb", ("7", "10"))
    finally:
        release(spawner_devstack, "hackathon", "batch-mig")
        release(spawner_devstack, "hackathon", "batch-one")
    poll_form(browser, "mig-1g-10gb", ("10", "10"))


@pytest.mark.parametrize(
    ("flavor", "resource", "nodes"),
    [
        (
            "cpu",
            None,
            {
                "cpu-1",
                "cpu-2",
                "cpu-3",
                "t4-1",
                "rtx5000-1",
                "rtx5000-2",
                "a100-1",
                "a100-2",
                "a100-3",
                "fpga-u55c-1",
            },
        ),
        ("t4", "nvidia.com/gpu", {"t4-1"}),
        ("mig-2g-20gb", "nvidia.com/mig-2g.20gb", {"a100-2", "a100-3"}),
        ("mig-1g-10gb", "nvidia.com/mig-1g.10gb", {"a100-2", "a100-3"}),  # mixed: listed first
        ("fpga-u55c", "amd.com/xilinx_u55c_gen3x16_xdma_base_3-0", {"fpga-u55c-1"}),
    ],
)
def test_each_flavor_kind_spawns_on_the_right_node(
    spawner_hub: SpawnerHub,
    spawner_devstack: RunningDevstack,
    flavor: str,
    resource: str | None,
    nodes: set[str],
) -> None:
    response = spawn(spawner_hub, "ada", f"k-{flavor}", flavor=flavor)
    assert response.status_code in (201, 202), response.text
    try:
        pod = server_pod(spawner_hub, spawner_devstack, "ada", f"k-{flavor}")
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert pod["spec"]["nodeName"] in nodes
        assert pod["metadata"]["labels"]["accelhub.io/flavor"] == flavor
        assert "accelhub.io/lease" not in pod["metadata"]["labels"]  # no service, no leases
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["ACCELHUB_FLAVOR"] == flavor
        if resource is None:
            assert not any("/" in key for key in limits)
        else:
            assert limits[resource] == "1"
    finally:
        spawner_hub.stop("ada", f"k-{flavor}")


def test_rest_api_bad_options_get_400s(spawner_hub: SpawnerHub) -> None:
    cases = [
        ({"flavor": "h100"}, "no accelerator flavor called 'h100'"),
        ({"flavor": "t4", "count": 9}, "not 9"),
        ({"flavor": "t4", "gpus": 1}, "Unknown option 'gpus'"),
        ({"flavor": "cpu", "image": "evil/miner:latest"}, "cannot use image"),
        ({"flavor": "fpga-u55c"}, "only for members of fpga-users"),
        ({"flavor": "t4", "memory": "a lot"}, "memory must be a size"),
        ({"flavor": "t4", "memory": "9" * 400}, "of memory, not '999"),
    ]
    for options, message in cases:
        response = spawn(spawner_hub, "bob", "bad", **options)
        assert response.status_code == 400, (options, response.text)
        body = response.json()
        assert message in body["message"], body
        assert "Traceback" not in body["message"]
    model = spawner_hub.api("GET", "/users/bob").json()
    assert "bad" not in (model.get("servers") or {})


def test_hub_without_service_says_at_start_up_that_quotas_are_off(
    spawner_hub: SpawnerHub,
) -> None:
    log = (spawner_hub.state / "hub.log").read_text()
    assert log.count(NO_QUOTAS) == 1, log[-3000:]


def test_failed_gpu_spawn_then_default_spawn_has_no_gpu(
    spawner_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    # the A100s are all partitioned in MIG slices: no whole A100 exists to start on
    refused = spawn(spawner_hub, "ada", "whole", flavor="a100")
    assert refused.status_code == 503, refused.text
    assert "The cluster has 0 NVIDIA A100 80GB (full GPU) device(s)" in refused.json()["message"]
    response = spawner_hub.api("POST", "/users/ada/servers/whole")  # no options: the defaults
    assert response.status_code in (201, 202), response.text
    try:
        pod = server_pod(spawner_hub, spawner_devstack, "ada", "whole")
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert not any(key.startswith("nvidia.com") for key in limits)
        assert pod["metadata"]["labels"]["accelhub.io/flavor"] == "cpu"
        assert pod["spec"].get("nodeSelector") in (None, {})
    finally:
        spawner_hub.stop("ada", "whole")


def read_events(hub: SpawnerHub, user: str, server: str, seconds: float) -> list[dict[str, Any]]:
    """The events of the server's progress stream (what the progress page reads)."""
    url = f"{hub.url}/hub/api/users/{user}/servers/{server}/progress"
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    try:
        with httpx.stream(
            "GET", url, headers={"Authorization": f"token {hub.token}"}, timeout=seconds
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
                if time.monotonic() > deadline:
                    break
    except httpx.ReadTimeout:
        pass
    return events


def read_progress(hub: SpawnerHub, user: str, server: str, seconds: float) -> list[str]:
    return [event.get("message", "") for event in read_events(hub, user, server, seconds)]


def test_slice_spawn_lands_on_the_single_strategy_node_when_mixed_ones_are_full(
    spawner_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    hold_devices(spawner_devstack, "hackathon", "hold-a", "nvidia.com/mig-1g.10gb", 2)
    hold_devices(spawner_devstack, "hackathon", "hold-b", "nvidia.com/mig-1g.10gb", 1)
    try:
        wait_phase(spawner_devstack, "hackathon", "hold-a", "Running")
        wait_phase(spawner_devstack, "hackathon", "hold-b", "Running")
        poll_form(spawner_hub.login("ada"), "mig-1g-10gb", ("7", "10"))  # the hub has seen them
        response = spawn(spawner_hub, "ada", "slice", flavor="mig-1g-10gb")
        assert response.status_code in (201, 202), response.text
        pod = server_pod(spawner_hub, spawner_devstack, "ada", "slice")
        assert pod["spec"]["nodeName"] == "a100-1"
        limits = pod["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "1" and "nvidia.com/mig-1g.10gb" not in limits
        assert pod["spec"]["nodeSelector"] == SINGLE_1G
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["ACCELHUB_MIG_STRATEGY"] == "single"
        assert pod["metadata"]["labels"]["accelhub.io/flavor"] == "mig-1g-10gb"
    finally:
        spawner_hub.stop("ada", "slice")
        release(spawner_devstack, "hackathon", "hold-a")
        release(spawner_devstack, "hackathon", "hold-b")


def test_pending_spawn_explains_what_it_waits_for(
    spawner_hub: SpawnerHub, spawner_devstack: RunningDevstack
) -> None:
    hold_devices(spawner_devstack, "hackathon", "hold-a", "nvidia.com/mig-2g.20gb", 1)
    hold_devices(spawner_devstack, "hackathon", "hold-b", "nvidia.com/mig-2g.20gb", 1)
    try:
        wait_phase(spawner_devstack, "hackathon", "hold-a", "Running")
        wait_phase(spawner_devstack, "hackathon", "hold-b", "Running")
        response = spawn(spawner_hub, "bob", "wait", flavor="mig-2g-20gb", wait=True)
        assert response.status_code == 202, response.text
        messages = read_progress(spawner_hub, "bob", "wait", 8)
        text = "\n".join(messages)
        assert "No MIG 2g.20gb slice is free: 2/2 in use" in text, text
        assert "Waiting for the scheduler: 0/" in text, text
    finally:
        spawner_hub.stop("bob", "wait")
        release(spawner_devstack, "hackathon", "hold-a")
        release(spawner_devstack, "hackathon", "hold-b")


def spawn_error(page_html: str) -> str:
    """The refusal accelhub's spawn page shows above the form: in the hub's alert, announced
    to screen readers, with no ``Error:`` label."""
    found = re.search(r'class="spawn-error-msg alert alert-danger">(.*?)</p>', page_html, re.S)
    assert found, page_html[:3000]
    shown = re.fullmatch(
        r'<span class="accelhub-refusal" role="alert">(.*)</span>', found.group(1).strip(), re.S
    )
    assert shown, found.group(1)
    return html.unescape(shown.group(1))


def test_refused_form_spawns_read_as_sentences_with_advice(spawner_hub: SpawnerHub) -> None:
    """JupyterHub's spawn page shows str(exception) unless told otherwise: the sentence and
    what to do, never ``403 SpawnException(reason=...)``."""
    browser = spawner_hub.login("ada")
    form = browser.get("/hub/spawn/ada/whole").text  # the form page sets the XSRF cookie
    assert "Not available on this cluster: it has no NVIDIA A100 80GB (full GPU)" in form
    xsrf = browser.cookies.get("_xsrf", "")
    refused = browser.post(
        "/hub/spawn/ada/whole", data={"_xsrf": xsrf, "flavor": "a100"}
    )  # every A100 is partitioned in MIG slices
    assert refused.status_code == 503, refused.text[:2000]
    shown = spawn_error(refused.text)
    assert "SpawnException" not in shown and "reason=" not in shown, shown
    assert "The cluster has 0 NVIDIA A100 80GB (full GPU) device(s)" in shown
    assert "pick another flavor" in shown.lower(), shown
    gina = spawner_hub.login("gina")  # in no group
    gina.get("/hub/spawn/gina/x")
    other = gina.post(
        "/hub/spawn/gina/x", data={"_xsrf": gina.cookies.get("_xsrf", ""), "flavor": "a100"}
    )
    shown = spawn_error(other.text)
    assert shown.startswith("NVIDIA A100 80GB (full GPU) is only for members of ml-experts.")
    assert "ask your group's organiser for access" in shown, shown
    bad = browser.post(
        "/hub/spawn/ada/bad", data={"_xsrf": xsrf, "flavor": "t4", "t4--count": "99"}
    )
    assert bad.status_code == 400, bad.text[:2000]
    shown = spawn_error(bad.text)
    assert "SpawnException" not in shown and "not 99" in shown, shown
    assert shown.endswith("Correct it on the form and start again."), shown


def test_a_spawn_failing_after_the_form_reads_as_the_sentence_on_the_progress_pages(
    spawner_hub: SpawnerHub,
) -> None:
    """A failure after the form reaches the user through the progress page's event stream,
    whose text JupyterHub prefixes with ``Spawn failed:`` (the page shows the event's HTML
    instead when there is one), and, on the next visit, the "Spawn failed" page."""
    spawner_hub.api("POST", "/users/gina")  # in no group (409 when an earlier test made her)
    refused = spawn(spawner_hub, "gina", "late", flavor="a100")
    assert refused.status_code == 400, refused.text
    sentence = refused.json()["message"]
    assert sentence.startswith("NVIDIA A100 80GB (full GPU) is only for members of ml-experts.")
    assert sentence.endswith("ask your group's organiser for access to this one."), sentence
    events = read_events(spawner_hub, "gina", "late", 10)
    assert events and events[-1]["failed"], events
    assert events[-1]["html_message"] == html.escape(sentence), events[-1]
    page = spawner_hub.login("gina").get("/hub/spawn-pending/gina/late").text
    assert f"<p>{html.escape(sentence)}</p>" in page, page[-3000:]
    assert "SpawnException" not in page and "reason=" not in page


def test_the_form_preselects_the_flavor_last_started(spawner_hub: SpawnerHub) -> None:
    """The server's last flavor outlives its stop (in the spawner's state); nothing else does."""
    response = spawn(spawner_hub, "bob", "again", flavor="t4", memory="32Gi")
    assert response.status_code in (201, 202), response.text
    try:
        assert spawner_hub.wait_ready("bob", "again").get("ready")
    finally:
        spawner_hub.stop("bob", "again")
    form = spawner_hub.login("bob").get("/hub/spawn/bob/again").text
    checked = re.findall(r'name="flavor" id="accelhub-([^"]+)" value="[^"]+"\s*checked', form)
    assert checked == ["t4"], checked
    # the options themselves are forgotten: a spawn without options is the default CPU server
    model = spawner_hub.api("GET", "/users/bob").json()["servers"].get("again") or {}
    assert "flavor" not in (model.get("user_options") or {}), model

"""The user server's offload API on a real Jupyter Server, against a stand-in of the hub
service's job API (the JOBS_API shapes), for what the end-to-end tests on devstack cannot
provoke cheaply: path confinement over HTTP, word-for-word service errors, resuming the
event stream with ?after=N, and where fetched copies land."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from tornado import web
from tornado.httpclient import HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.ioloop import IOLoop
from tornado.websocket import websocket_connect

from server_ext.offload import frames
from tests.conftest import subprocess_env
from tests.helpers.net import free_port
from tests.helpers.processes import ServerProcess, start_jupyter_server

TOKEN = "user-token-of-ada"
LOG = ["hello from the site", *[frames.progress_line("start", 1, 2, "a"), "x = 1"]]


def job(job_id: str, state: str = "running", **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "user": "ada",
        "name": "work/analysis.ipynb",
        "state": state,
        "reason": None,
        "message": None,
        "site": "site-a",
        "flavor": "t4",
        "cell_id": None,
        "setup": "tagged",
        "progress": {"cell": 1, "of": 2},
        "has_result": state != "running",
        **extra,
    }


class StandIn:
    """The service's job API as JOBS_API.md fixes it, answering from fixed data."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.headers: list[str] = []
        self.finished = False
        notebook = new_notebook(cells=[new_code_cell("print(1)", id="a")])
        notebook.cells[0].outputs = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
        self.result = json.loads(json.dumps(notebook))
        outer = self

        class Base(web.RequestHandler):
            def prepare(self) -> None:
                outer.headers.append(self.request.headers.get("Authorization", ""))

            def answer(self, status: int, body: Any) -> None:
                self.set_status(status)
                self.finish(json.dumps(body))

        class Sites(Base):
            def get(self) -> None:
                body: dict[str, Any] = {"sites": [{"name": "site-a", "ready": True}]}
                flavor = self.get_query_argument("flavor", None)
                if flavor is not None:
                    body["automatic"] = {"site": "site-a", "reason": f"chosen for {flavor}"}
                    body["flavors"] = [
                        {"slug": "t4", "display_name": "T4", "accelerator": None},
                        {"display_name": "no slug: dropped"},
                    ]
                self.answer(200, body)

        class Jobs(Base):
            def post(self) -> None:
                body = json.loads(self.request.body)
                outer.posts.append(body)
                if body["site"] == "full":
                    self.answer(403, {"message": "The group physics is over its offload quota."})
                    return
                self.answer(201, job("j1", "pending", cell_id=body["cell_id"]))

        class Job(Base):
            def get(self, job_id: str) -> None:
                if job_id == "theirs":
                    self.answer(404, {"message": "There is no job 'theirs'."})
                    return
                state = "succeeded" if outer.finished else "running"
                cell = "a" if job_id == "cellj" else None
                self.answer(200, job(job_id, state, cell_id=cell))

            def delete(self, job_id: str) -> None:
                self.answer(200, job(job_id, "cancelled", reason="cancelled"))

        class Rerun(Base):
            def post(self, job_id: str) -> None:
                self.answer(201, job(f"{job_id}-again", "pending"))

        class Logs(Base):
            async def get(self, job_id: str) -> None:
                self.set_header("Content-Type", "text/plain")
                for line in LOG:
                    self.write(line + "\n")
                    self.flush()
                if self.get_query_argument("follow", "0") == "1":
                    while not outer.finished:  # noqa: ASYNC110 (set by the test's thread)
                        await asyncio.sleep(0.1)
                    for line in frames.encode_result(outer.result, "succeeded"):
                        self.write(line + "\n")
                    self.write("bye\n")
                self.finish()

        class Result(Base):
            def get(self, job_id: str) -> None:
                if not outer.finished:
                    self.answer(409, {"message": "The job has no result yet."})
                    return
                self.answer(200, outer.result)

        prefix = "/services/accelhub/api/v1"
        job_id = r"([^/]+)"
        self.app = web.Application(
            [
                (f"{prefix}/sites", Sites),
                (f"{prefix}/jobs", Jobs),
                (f"{prefix}/jobs/{job_id}", Job),
                (f"{prefix}/jobs/{job_id}/rerun", Rerun),
                (f"{prefix}/jobs/{job_id}/logs", Logs),
                (f"{prefix}/jobs/{job_id}/result", Result),
            ]
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/services/accelhub/"
        self.loop: IOLoop | None = None
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(asyncio.new_event_loop())
            self.loop = IOLoop.current()
            HTTPServer(self.app).listen(self.port, "127.0.0.1")
            ready.set()
            self.loop.start()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self) -> None:
        assert self.loop is not None
        self.loop.add_callback(self.loop.stop)
        self.thread.join(10)


class Lab:
    def __init__(self, url: str, token: str, root: Path, process: ServerProcess) -> None:
        self.url, self.token, self.root, self.process = url, token, root, process

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.url}accelhub/api/offload/{path}",
            headers={"Authorization": f"token {self.token}"},
            timeout=30,
            **kwargs,
        )


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandIn]:
    service = StandIn()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def lab(stand_in: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("offload")
    root, runtime = base / "root", base / "runtime"
    root.mkdir()
    runtime.mkdir()
    (root / "work").mkdir()
    nb = new_notebook(cells=[new_code_cell("x = 1", id="a")])
    (root / "work" / "analysis.ipynb").write_text(json.dumps(nb))
    (base / "secret.ipynb").write_text(json.dumps(nb))
    (root / "escape.ipynb").symlink_to(base / "secret.ipynb")
    env = subprocess_env(
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTERHUB_API_TOKEN=TOKEN,
        ACCELHUB_SERVICE_URL=stand_in.url,
    )
    url, token, process = start_jupyter_server(
        "jupyter_server", root, runtime / "server.log", env, "--OffloadConfig.poll_interval=0.2"
    )
    yield Lab(url, token, root, process)
    process.stop()


def test_submit_reads_the_notebook_and_uses_the_users_token(lab: Lab, stand_in: StandIn) -> None:
    response = lab.call(
        "POST",
        "jobs",
        json={
            "path": "work/analysis.ipynb",
            "site": "site-a",
            "flavor": "t4",
            "parameters": {"n": 3},
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "j1"
    sent = stand_in.posts[-1]
    assert sent["name"] == "work/analysis.ipynb"
    assert sent["notebook"]["cells"][0]["source"] == "x = 1"
    assert (sent["parameters"], sent["setup"], sent["cell_id"]) == ({"n": 3}, "tagged", None)
    assert stand_in.headers[-1] == f"token {TOKEN}"
    assert lab.call("GET", "sites").json()["sites"][0]["name"] == "site-a"


def test_sites_pass_on_automatics_pick_and_the_flavors(lab: Lab) -> None:
    plain = lab.call("GET", "sites").json()
    assert "automatic" not in plain and "flavors" not in plain  # an older service: no keys
    data = lab.call("GET", "sites", params={"flavor": "t4 big"}).json()
    assert data["automatic"] == {"site": "site-a", "reason": "chosen for t4 big"}
    assert data["flavors"] == [{"slug": "t4", "display_name": "T4", "accelerator": None}]


def test_rerun_asks_the_service_for_a_new_job(lab: Lab) -> None:
    response = lab.call("POST", "jobs/j7/rerun")
    assert (response.status_code, response.json()["id"]) == (201, "j7-again")


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("../secret.ipynb", 400, "climbs out"),
        ("/etc/passwd.ipynb", 400, "absolute"),
        ("escape.ipynb", 403, "outside the server's root"),
        ("work/missing.ipynb", 404, "no notebook"),
    ],
)
def test_paths_outside_the_root_are_refused(
    lab: Lab, stand_in: StandIn, path: str, status: int, words: str
) -> None:
    before = len(stand_in.posts)
    response = lab.call("POST", "jobs", json={"path": path, "flavor": "t4"})
    assert response.status_code == status, response.text
    assert words in response.json()["message"]
    assert "Traceback" not in response.text
    assert len(stand_in.posts) == before  # nothing left the server


def test_bad_bodies_get_sentences(lab: Lab) -> None:
    response = lab.call(
        "POST", "jobs", json={"path": "work/analysis.ipynb", "flavor": "t4", "setup": "below"}
    )
    assert response.status_code == 400
    assert response.json()["message"] == 'setup must be "tagged" or "above".'
    response = lab.call("POST", "jobs", json={"path": "work/analysis.ipynb"})
    assert response.status_code == 400
    assert response.json()["message"] == "The field 'flavor' is required."
    response = lab.call("POST", "jobs", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["message"] == "The request body must be JSON."


def test_service_errors_pass_through_word_for_word(lab: Lab) -> None:
    response = lab.call(
        "POST", "jobs", json={"path": "work/analysis.ipynb", "site": "full", "flavor": "t4"}
    )
    assert response.status_code == 403
    assert response.json()["message"] == "The group physics is over its offload quota."
    response = lab.call("GET", "jobs/theirs")
    assert response.status_code == 404
    assert response.json()["message"] == "There is no job 'theirs'."
    response = lab.call("POST", "jobs/j1/fetch")
    assert (response.status_code, response.json()["message"]) == (
        409,
        "The job has no result yet.",
    )


async def _frames(url: str, token: str, count: int) -> list[dict[str, Any]]:
    request = HTTPRequest(
        url.replace("http://", "ws://"), headers={"Authorization": f"token {token}"}
    )
    connection = await websocket_connect(request)
    got = []
    while len(got) < count:
        message = await asyncio.wait_for(connection.read_message(), 20)
        if message is None:
            break
        got.append(json.loads(message))
    connection.close()
    return got


def test_events_stream_resumes_without_duplicates_and_fetch_writes_beside(
    lab: Lab, stand_in: StandIn
) -> None:
    url = f"{lab.url}accelhub/api/offload/jobs/j7/events"
    first = asyncio.run(_frames(url, lab.token, 4))
    hello, *events = first
    assert hello["type"] == "hello" and hello["reset"] is False
    assert [e["type"] for e in events] == ["state", "log", "progress"]
    assert events[1]["line"] == "hello from the site"
    assert (events[2]["cell"], events[2]["of"], events[2]["event"]) == (1, 2, "start")
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    stand_in.finished = True
    rest = asyncio.run(_frames(f"{url}?after={seqs[-1]}&stream={hello['stream']}", lab.token, 100))
    kinds = [e["type"] for e in rest[1:]]
    assert rest[1]["seq"] == seqs[-1] + 1  # nothing repeated, nothing skipped
    assert "x = 1" in [e.get("line") for e in rest]
    assert kinds[-1] == "end" and rest[-1]["state"] == "succeeded"
    assert not any(e.get("line", "").startswith("@@accelhub") for e in rest)  # frames hidden
    assert "bye" in [e.get("line") for e in rest]
    again = asyncio.run(_frames(f"{url}?after=0&stream=old", lab.token, 100))
    assert again[0]["reset"] is True and again[1]["seq"] == 1

    response = lab.call("POST", "jobs/j7/fetch")
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "work/analysis.remote-site-a-j7.ipynb"
    copy = json.loads((lab.root / "work" / "analysis.remote-site-a-j7.ipynb").read_text())
    assert "".join(copy["cells"][0]["outputs"][0]["text"]) == "1\n"
    original = json.loads((lab.root / "work" / "analysis.ipynb").read_text())
    assert original["cells"][0]["outputs"] == []  # the original untouched

    cell = lab.call("POST", "jobs/cellj/fetch").json()
    assert cell["cell_id"] == "a" and cell["outputs"][0]["text"] == "1\n"
    refused = lab.call("POST", "jobs/j7/fetch", json={"path": "../x.ipynb"})
    assert refused.status_code == 400 and "climbs out" in refused.json()["message"]


def test_another_users_job_cannot_be_followed(lab: Lab) -> None:
    response = httpx.get(
        f"{lab.url}accelhub/api/offload/jobs/theirs/events",
        headers={"Authorization": f"token {lab.token}"},
    )
    assert response.status_code == 404
    assert response.json()["message"] == "There is no job 'theirs'."

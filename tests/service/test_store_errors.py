"""A store that cannot be reached gives a 503 sentence with Retry-After, never a traceback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.web import Application

from hub_ext.service.base import APIHandler
from hub_ext.service.store import make_engine
from tests.helpers.net import free_port


class StoreHandler(APIHandler):
    """Touches a store; identity is not what this test is about."""

    async def prepare(self) -> None:
        return None

    async def post(self, kind: str) -> None:
        if kind == "unreachable":
            engine = make_engine(f"sqlite:///{self.settings['missing_dir']}/store.sqlite")
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            finally:
                await engine.dispose()
        else:
            raise RuntimeError("a bug")


@pytest.fixture
async def base_url(tmp_path: Path) -> AsyncIterator[str]:
    app = Application(
        [(r"/store/(\w+)", StoreHandler)],
        missing_dir=str(tmp_path / "no" / "such" / "dir"),
    )
    port = free_port()
    server = HTTPServer(app)
    server.listen(port, "127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def test_an_unavailable_store_is_a_503_with_retry_after(base_url: str) -> None:
    response = await AsyncHTTPClient().fetch(
        f"{base_url}/store/unreachable", method="POST", body="{}", raise_error=False
    )
    assert response.code == 503
    assert response.headers["Retry-After"] == "30"
    message = json.loads(response.body)["message"]
    assert "cannot reach its database" in message and "nothing was changed" in message
    assert "Traceback" not in response.body.decode()


async def test_a_bug_stays_a_500_without_details(base_url: str) -> None:
    response = await AsyncHTTPClient().fetch(
        f"{base_url}/store/bug", method="POST", body="{}", raise_error=False
    )
    assert response.code == 500
    assert json.loads(response.body) == {
        "message": "The accelhub service hit an internal error; it has been logged."
    }

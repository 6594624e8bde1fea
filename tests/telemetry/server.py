"""A real Jupyter Server with the accelhub extension, pointed at the simulated NVML."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.processes import ServerProcess, start_jupyter_server


@dataclass
class TelemetryServer:
    """A running server and how to reach it."""

    url: str
    token: str
    process: ServerProcess

    def get(self, path: str, token: str | None = "") -> tuple[int, bytes]:
        """GET ``path`` with the server's token (``""``), another token, or none (``None``)."""
        request = urllib.request.Request(self.url + path.lstrip("/"))
        token = self.token if token == "" else token
        if token is not None:
            request.add_header("Authorization", f"token {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read()

    def json(self, path: str) -> Any:
        status, body = self.get(path)
        assert status == 200, (status, body)
        return json.loads(body)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "accelhub/api/telemetry/stream"


def start_server(root: Path, env: dict[str, str], *args: str) -> TelemetryServer:
    """Start ``python -m jupyter_server`` (its pid is the server's) and wait until it answers."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**env, "JUPYTER_RUNTIME_DIR": str(root / ".runtime")}
    url, token, process = start_jupyter_server(
        "jupyter_server", root, root / "server.log", env, *args
    )
    return TelemetryServer(url=url, token=token, process=process)

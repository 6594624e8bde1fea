"""Start and stop long-running server processes for tests, leaving nothing behind."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.helpers.net import free_port, wait_for_http


class ServerProcess:
    """A child process in its own session, with its output kept in a log file."""

    def __init__(
        self,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_until_serving(self, url: str, timeout: float = 60.0, require_ok: bool = False) -> int:
        """Poll ``url`` until it answers (with 200 when ``require_ok``); fail at once with
        the log if the process exits, or with the log on timeout."""
        try:
            return wait_for_http(
                url,
                timeout,
                ok_statuses=(200,) if require_ok else (),
                alive=lambda: self.process.poll() is None,
            )
        except RuntimeError:
            raise RuntimeError(
                f"{self.argv[0]} exited with {self.process.returncode}:\n{self.log_text()}"
            ) from None
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{self.log_text()}") from None

    def log_text(self) -> str:
        """Everything the process printed so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the whole process group, then SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        # Reap anything left in the group (children that ignored SIGTERM).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()
        return self.process.returncode


def start_jupyter_server(
    module: str, root: Path, log_path: Path, env: Mapping[str, str], *args: str
) -> tuple[str, str, ServerProcess]:
    """Start ``python -m <module>`` (jupyter_server, jupyterlab) on a free loopback port with a
    fresh token, and wait until it answers; returns its URL, token and process."""
    port = free_port()
    token = secrets.token_hex(16)
    argv = [
        sys.executable,
        "-m",
        module,
        "--allow-root",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        *args,
    ]
    process = ServerProcess(argv, log_path, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        process.wait_until_serving(f"{url}api/status", timeout=90)
    except (RuntimeError, TimeoutError):
        process.stop()
        raise
    return url, token, process

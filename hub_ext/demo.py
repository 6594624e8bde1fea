"""``make demo``: JupyterLab with the accelhub extension on http://127.0.0.1:8888."""

from __future__ import annotations

import os
import secrets
import sys


def main() -> int:
    """Start JupyterLab in the foreground and print where to open it."""
    port = os.environ.get("ACCELHUB_DEMO_PORT", "8888")
    token = secrets.token_hex(16)
    root = os.path.abspath(os.environ.get("ACCELHUB_DEMO_ROOT", ".demo/notebooks"))
    os.makedirs(root, exist_ok=True)
    print(f"accelhub demo: JupyterLab on http://127.0.0.1:{port}/lab?token={token}", flush=True)
    print("Stop it with Ctrl-C.", flush=True)
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    os.execv(sys.executable, argv)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

"""`python -m server_ext.offload.runner`: run a notebook (or one cell) for an offload job.

    python -m server_ext.offload.runner --notebook /job/notebook.ipynb \
        [--parameters '{"epochs": 3}' | --parameters-file /job/parameters.json] \
        [--cell-id ID [--setup tagged|above]] [--kernel python3] [--timeout S]

It prints a progress line as each code cell starts and ends, streams cell outputs as they
come, and ends with the executed notebook as a result frame (`frames.py`) on stdout, so
the job's logs carry it back from any site. A failing cell still gives the partial
notebook, with the error in it, and exit status 1; a job that cannot start (unreadable
notebook, unknown cell, bad parameters) exits 2 with one sentence on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from server_ext.offload import frames
from server_ext.offload.cells import (
    SETUP_POLICIES,
    NotebookError,
    inject_parameters,
    select_cell_job,
)
from server_ext.offload.energy import EnergyMeter

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Console:
    """stdout with line discipline: machine lines always start on a fresh line."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.at_line_start = True

    def text(self, text: str) -> None:
        """Cell output as it comes."""
        if text:
            self.out.write(text)
            self.out.flush()
            self.at_line_start = text.endswith("\n")

    def line(self, line: str) -> None:
        """A whole line (progress, frame)."""
        if not self.at_line_start:
            self.out.write("\n")
        self.out.write(line + "\n")
        self.out.flush()
        self.at_line_start = True


def _describe(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return str(output.get("text", ""))
    if kind == "error":
        trace = "\n".join(ANSI.sub("", t) for t in output.get("traceback") or [])
        return (trace or f"{output.get('ename')}: {output.get('evalue')}") + "\n"
    data = output.get("data") or {}
    if "text/plain" in data:
        text = data["text/plain"]
        return ("".join(text) if isinstance(text, list) else str(text)) + "\n"
    return f"[{', '.join(sorted(data))}]\n"


def run(args: argparse.Namespace, console: Console) -> int:
    """Prepare, execute and frame the notebook; returns the exit status."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from traitlets.config import Config

    try:
        nb = nbformat.read(args.notebook, as_version=4)
    except OSError as exc:
        raise NotebookError(f"cannot read the notebook {args.notebook}: {exc.strerror}") from None
    except Exception as exc:
        raise NotebookError(f"{args.notebook} is not a valid notebook: {exc}") from None
    data: dict[str, Any] = dict(nb)
    if args.cell_id:
        data = select_cell_job(data, args.cell_id, args.setup)
    data = inject_parameters(data, _parameters(args))
    nb = nbformat.from_dict(data)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    ordinal = {index: n + 1 for n, index in enumerate(code)}
    started: dict[int, float] = {}

    def on_start(cell: Any, cell_index: int) -> None:
        started[cell_index] = time.monotonic()
        console.line(
            frames.progress_line("start", ordinal[cell_index], len(code), cell.get("id", ""))
        )

    def on_done(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        ok = (execute_reply.get("content") or {}).get("status") == "ok"
        seconds = round(time.monotonic() - started.get(cell_index, time.monotonic()), 3)
        console.line(
            frames.progress_line(
                "end",
                ordinal[cell_index],
                len(code),
                cell.get("id", ""),
                status="ok" if ok else "error",
                seconds=seconds,
            )
        )

    class StreamingClient(NotebookClient):
        def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None:
                console.text(_describe(out))
            return out

    kernel = args.kernel or (nb.metadata.get("kernelspec") or {}).get("name") or "python3"
    sockets = tempfile.TemporaryDirectory(prefix="accelhub-kernel-")
    # The kernel talks over IPC sockets in a private directory: no TCP port on a shared node.
    # Given as config, not as a ready manager, so the client owns the kernel and shuts it down
    # when the site stops the job (SIGTERM).
    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(Path(sockets.name) / "kernel")
    client = StreamingClient(
        nb,
        config=config,
        kernel_name=kernel,
        timeout=args.timeout,
        resources={"metadata": {"path": args.cwd or str(Path.cwd())}},
        on_cell_execute=on_start,
        on_cell_executed=on_done,
    )
    error: dict[str, Any] | None = None
    with sockets, EnergyMeter() as meter:
        try:
            client.execute()
        except CellExecutionError as exc:
            error = _cell_error(nb, exc)
        except Exception as exc:  # dead kernel, timeout, missing kernel
            error = {"cell": None, "id": None, "ename": type(exc).__name__, "evalue": str(exc)}
    state = "failed" if error else "succeeded"
    energy = round(meter.watt_hours, 6) if meter.watt_hours is not None else None
    for line in frames.encode_result(dict(nb), state, error, energy):
        console.line(line)
    return 1 if error else 0


def _cell_error(nb: Any, exc: Exception) -> dict[str, Any]:
    """Which cell failed and how (the last cell with an error output)."""
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    for n, cell in reversed(list(enumerate(code, 1))):
        for out in cell.get("outputs") or []:
            if out.get("output_type") == "error":
                return {
                    "cell": n,
                    "id": cell.get("id"),
                    "ename": out.get("ename"),
                    "evalue": out.get("evalue"),
                }
    return {
        "cell": None,
        "id": None,
        "ename": getattr(exc, "ename", "Error"),
        "evalue": getattr(exc, "evalue", str(exc)),
    }


def _parameters(args: argparse.Namespace) -> dict[str, Any]:
    text = args.parameters
    if args.parameters_file:
        try:
            text = Path(args.parameters_file).read_text()
        except OSError as exc:
            raise NotebookError(
                f"cannot read the parameters file {args.parameters_file}: {exc.strerror}"
            ) from None
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        raise NotebookError("the parameters are not valid JSON") from None
    if not isinstance(value, dict):
        raise NotebookError("the parameters must be a JSON object of name: value")
    return value


def parser() -> argparse.ArgumentParser:
    """The runner's command line."""
    p = argparse.ArgumentParser(
        prog="python -m server_ext.offload.runner",
        description="Execute a notebook (or one cell) and print it as a result frame.",
    )
    p.add_argument("--notebook", required=True, help="the notebook file (nbformat 4)")
    p.add_argument("--parameters", help="a JSON object injected after the parameters cell")
    p.add_argument("--parameters-file", help="a file holding that JSON object")
    p.add_argument("--cell-id", help="run only this cell (and the cells it needs)")
    p.add_argument(
        "--setup",
        choices=SETUP_POLICIES,
        default="tagged",
        help="which cells a cell job needs: tagged 'setup', or every code cell above",
    )
    p.add_argument("--kernel", help="kernel name (default: the notebook's, else python3)")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none)")
    p.add_argument("--cwd", help="the kernel's working directory (default: the current one)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parser().parse_args(argv)
    try:
        return run(args, Console(sys.stdout))
    except NotebookError as exc:
        print(f"runner: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

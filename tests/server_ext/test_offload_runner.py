"""The offload runner on real notebooks with a real kernel, and its result frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from server_ext.offload import frames

REPO = Path(__file__).resolve().parents[2]


def notebook(path: Path, *cells: Any) -> Path:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def cell(source: str, cid: str, *tags: str) -> Any:
    c = new_code_cell(source, metadata={"tags": list(tags)} if tags else {})
    c["id"] = cid
    return c


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server_ext.offload.runner", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env or {**os.environ, "PYTHONPATH": str(REPO)},
    )


def outputs_text(c: dict[str, Any]) -> str:
    parts = []
    for out in c.get("outputs") or []:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def test_parameters_are_injected_after_the_parameters_cell(tmp_path: Path) -> None:
    path = notebook(
        tmp_path / "p.ipynb",
        new_markdown_cell("# analysis"),
        cell("epochs = 1\nlabel = 'default'", "params", "parameters"),
        cell("for i in range(epochs):\n    print(label, i)", "loop"),
    )
    proc = run("--notebook", str(path), "--parameters", '{"epochs": 2, "label": "run", "x": null}')
    assert proc.returncode == 0, proc.stderr
    # The kernel is reached over private IPC sockets, never a TCP port on a shared node.
    assert "over TCP" not in proc.stdout + proc.stderr
    result = frames.decode_result(proc.stdout.splitlines())
    assert result.state == "succeeded" and result.error is None
    ids = [c.get("id") for c in result.notebook["cells"]]
    assert ids[1:3] == ["params", "injected-parameters"]
    injected = result.notebook["cells"][2]
    assert injected["source"] == "# Parameters\nepochs = 2\nlabel = 'run'\nx = None\n"
    assert injected["metadata"]["tags"] == ["injected-parameters"]
    assert outputs_text(result.notebook["cells"][3]) == "run 0\nrun 1\n"
    # outputs streamed between the loop cell's progress lines, before the frame
    lines = proc.stdout.splitlines()
    events = [frames.parse_progress(ln) for ln in lines]
    progress = [e for e in events if e]
    assert [(e["event"], e["cell"], e["of"]) for e in progress] == [
        ("start", 1, 3),
        ("end", 1, 3),
        ("start", 2, 3),
        ("end", 2, 3),
        ("start", 3, 3),
        ("end", 3, 3),
    ]
    start = lines.index(frames.progress_line("start", 3, 3, "loop"))
    assert lines[start + 1 : start + 3] == ["run 0", "run 1"]
    assert all(e["status"] == "ok" for e in progress if e["event"] == "end")


@pytest.mark.parametrize(
    ("setup", "expected_ids", "expected"),
    [("tagged", ["lib", "target"], "NameError"), ("above", ["lib", "slow", "target"], "3 4")],
)
def test_cell_job_runs_the_cell_with_its_setup_cells(
    tmp_path: Path, setup: str, expected_ids: list[str], expected: str
) -> None:
    path = notebook(
        tmp_path / "c.ipynb",
        cell("base = 1", "lib", "setup"),
        cell("extra = 2", "slow"),
        cell("print(base + extra, base + extra + 1)", "target"),
        cell("print('after')", "after"),
    )
    proc = run("--notebook", str(path), "--cell-id", "target", "--setup", setup)
    result = frames.decode_result(proc.stdout.splitlines())
    assert [c["id"] for c in result.notebook["cells"]] == expected_ids
    target = result.notebook["cells"][-1]
    if expected == "NameError":  # `extra` lives in an untagged cell: not run
        assert proc.returncode == 1 and result.error is not None
        assert result.error["ename"] == "NameError" and result.error["id"] == "target"
    else:
        assert proc.returncode == 0 and outputs_text(target) == expected + "\n"


def test_a_raising_cell_returns_the_partial_notebook_with_the_error(tmp_path: Path) -> None:
    path = notebook(
        tmp_path / "e.ipynb",
        cell("print('first')", "a"),
        cell("raise ValueError('bad input data')", "b"),
        cell("print('never')", "c"),
    )
    proc = run("--notebook", str(path))
    assert proc.returncode == 1
    result = frames.decode_result(proc.stdout.splitlines())
    assert result.state == "failed"
    assert result.error == {"cell": 2, "id": "b", "ename": "ValueError", "evalue": "bad input data"}
    a, b, c = result.notebook["cells"]
    assert outputs_text(a) == "first\n"
    assert (
        b["outputs"][0]["output_type"] == "error" and b["outputs"][0]["evalue"] == "bad input data"
    )
    assert c["outputs"] == [] and c["execution_count"] is None
    assert "ValueError: bad input data" in proc.stdout  # streamed as it happened


def test_bad_input_is_one_sentence(tmp_path: Path) -> None:
    path = notebook(tmp_path / "b.ipynb", cell("1", "a"))
    proc = run("--notebook", str(path), "--cell-id", "nope")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "runner: the notebook has no cell with id 'nope'"
    proc = run("--notebook", str(path), "--parameters", "[1]")
    assert proc.stderr.strip() == "runner: the parameters must be a JSON object of name: value"
    (tmp_path / "junk.ipynb").write_text("not json")
    proc = run("--notebook", str(tmp_path / "junk.ipynb"))
    assert proc.returncode == 2 and proc.stderr.startswith("runner: ")
    assert "Traceback" not in proc.stderr


def test_runner_imports_nothing_heavy() -> None:
    code = (
        "import sys, server_ext.offload.runner\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('jupyter_server', 'tornado', 'kubernetes_asyncio', 'sqlalchemy', 'jupyterhub',"
        " 'devstack')"
        " or m.startswith(('hub_ext.service', 'hub_ext.spawner', 'server_ext.telemetry'))]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "[]"


# -- frames -------------------------------------------------------------------------------------
NB = {
    "cells": [{"cell_type": "code", "source": "x = 'é' * 500", "outputs": []}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def test_frame_round_trip_amid_other_log_lines() -> None:
    lines = list(frames.encode_result(NB, "succeeded", energy_wh=0.25))
    assert all(ln.startswith(frames.PREFIX) for ln in lines)
    assert all(len(ln) <= 100 for ln in lines if ln.startswith(frames.DATA))
    noisy = ["some output", *lines[:2], "stderr noise interleaved", *lines[2:], "trailing"]
    result = frames.decode_result(noisy)
    assert result.notebook == NB and result.energy_wh == 0.25 and result.header["v"] == 1


def test_corrupted_and_incomplete_frames_are_detected() -> None:
    lines = list(frames.encode_result(NB, "succeeded"))
    data = [i for i, ln in enumerate(lines) if ln.startswith(frames.DATA)]
    broken = list(lines)
    body = broken[data[0]]
    flipped = body[:-5] + ("A" if body[-5] != "A" else "B") + body[-4:]
    broken[data[0]] = flipped
    with pytest.raises(frames.FrameError, match="corrupted"):
        frames.decode_result(broken)
    with pytest.raises(frames.FrameError, match="incomplete"):
        frames.decode_result(lines[:-1])
    with pytest.raises(frames.FrameError, match=r"corrupted|does not match"):
        frames.decode_result([ln for i, ln in enumerate(lines) if i != data[-1]])
    with pytest.raises(frames.FrameError, match="no result frame"):
        frames.decode_result(["hello", "world"])
    assert frames.parse_progress("tick") is None
    assert frames.parse_progress(frames.progress_line("end", 1, 2, "a", status="ok")) == {
        "event": "end",
        "cell": 1,
        "of": 2,
        "id": "a",
        "status": "ok",
    }


def test_energy_is_measured_with_simulated_nvml(tmp_path: Path) -> None:
    from devstack.nvml.build import build_library
    from devstack.nvml.simfile import SIM_FILE_ENV, default_simulation, write_simfile

    lib = build_library(tmp_path / "nvml-cache")
    sim = write_simfile(default_simulation("runner-node"), tmp_path / "sim.txt")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LD_LIBRARY_PATH": str(lib.parent),
        SIM_FILE_ENV: str(sim),
    }
    path = notebook(tmp_path / "g.ipynb", cell("import time; time.sleep(1.2)", "a"))
    proc = run("--notebook", str(path), env=env)
    assert proc.returncode == 0, proc.stderr
    result = frames.decode_result(proc.stdout.splitlines())
    assert result.energy_wh is not None and result.energy_wh > 0
    # without NVML there is no figure rather than a made-up one
    bare = {k: v for k, v in env.items() if k not in ("LD_LIBRARY_PATH", SIM_FILE_ENV)}
    proc = run("--notebook", str(path), env=bare)
    assert frames.decode_result(proc.stdout.splitlines()).energy_wh is None
    json.dumps(result.header)


def test_sigterm_stops_the_runner_and_its_kernel(tmp_path: Path) -> None:
    """What a site does to cancel a job: the runner shuts its kernel down and ends."""
    path = notebook(
        tmp_path / "slow.ipynb",
        cell("import os, time\nprint('pids', os.getpid(), flush=True)\ntime.sleep(120)", "s"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "server_ext.offload.runner", "--notebook", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        kernel = next(int(line.split()[1]) for line in proc.stdout if line.startswith("pids "))
        proc.terminate()
        proc.wait(timeout=30)
        for _ in range(100):
            try:
                os.kill(kernel, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the kernel {kernel} outlived its runner")
    finally:
        proc.kill()

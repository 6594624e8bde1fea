"""The runner's wire format in a job's logs: progress lines and the result frame (v1).

Everything the runner says for machines is a line starting with `@@accelhub:`, so it
survives any plugin's log channel and interleaving with other output:

- progress, one line per cell as it starts and as it ends::

      @@accelhub:progress {"event": "start", "cell": 2, "of": 5, "id": "c2"}
      @@accelhub:progress {"event": "end", "cell": 2, "of": 5, "id": "c2", "status": "ok",
                           "seconds": 0.4}            (on one line)

- the result frame, once at the end: a header, the executed notebook as gzip + base64
  in lines of at most 76 characters, and a trailer repeating the checksum::

      @@accelhub:result-begin {"v": 1, "sha256": "...", "length": 1234, "state": "succeeded", ...}
      @@accelhub:r H4sIAAAAAAAC/+1YW2/bNhR+...
      @@accelhub:result-end <sha256>

  `sha256` and `length` are those of the notebook's UTF-8 JSON before compression;
  `state` is `succeeded` or `failed`, `error` names the failing cell (or is null),
  `energy_wh` is the GPU energy measured through NVML (or null).

Only the standard library is used: the runner imports this inside the job's image and
the gateway imports it in the hub service.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
PREFIX = "@@accelhub:"
PROGRESS = PREFIX + "progress "
BEGIN = PREFIX + "result-begin "
DATA = PREFIX + "r "
END = PREFIX + "result-end "
LINE = 76


class FrameError(ValueError):
    """A result frame that cannot be trusted, with a sentence saying why."""


@dataclass
class Result:
    """A decoded result frame."""

    notebook: dict[str, Any]
    state: str
    error: dict[str, Any] | None = None
    energy_wh: float | None = None
    header: dict[str, Any] = field(default_factory=dict)


def progress_line(event: str, cell: int, of: int, cell_id: str, **extra: Any) -> str:
    """One progress line (`event` is `start` or `end`)."""
    body = {"event": event, "cell": cell, "of": of, "id": cell_id, **extra}
    return PROGRESS + json.dumps(body, separators=(",", ":"))


def parse_progress(line: str) -> dict[str, Any] | None:
    """The progress event of a log line, or None when the line is not one."""
    line = line.rstrip("\r\n")
    if not line.startswith(PROGRESS):
        return None
    try:
        event = json.loads(line[len(PROGRESS) :])
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") not in ("start", "end"):
        return None
    return event


def encode_result(
    notebook: dict[str, Any],
    state: str,
    error: dict[str, Any] | None = None,
    energy_wh: float | None = None,
) -> Iterator[str]:
    """The lines of a result frame (without newlines)."""
    raw = json.dumps(notebook, ensure_ascii=False).encode()
    digest = hashlib.sha256(raw).hexdigest()
    header = {
        "v": VERSION,
        "encoding": "gzip+base64",
        "sha256": digest,
        "length": len(raw),
        "state": state,
        "error": error,
        "energy_wh": energy_wh,
    }
    yield BEGIN + json.dumps(header, separators=(",", ":"))
    packed = base64.b64encode(gzip.compress(raw, mtime=0)).decode()
    for i in range(0, len(packed), LINE):
        yield DATA + packed[i : i + LINE]
    yield END + digest


def decode_result(lines: Iterable[str]) -> Result:
    """The last complete result frame among log lines; FrameError if none can be trusted."""
    header: dict[str, Any] | None = None
    chunks: list[str] = []
    found: Result | None = None
    problem = "the job's logs hold no result frame"
    for line in lines:
        line = line.rstrip("\r\n")
        if line.startswith(BEGIN):
            try:
                header = json.loads(line[len(BEGIN) :])
            except ValueError:
                header, problem = None, "the result frame's header is not JSON"
                continue
            chunks = []
        elif line.startswith(DATA) and header is not None:
            chunks.append(line[len(DATA) :])
        elif line.startswith(END) and header is not None:
            try:
                found = _check(header, chunks, line[len(END) :].strip())
            except FrameError as exc:
                problem, found = str(exc), None
            header = None
    if found is not None:
        return found
    if header is not None:
        raise FrameError("the result frame is incomplete (its end marker never came)")
    raise FrameError(problem)


def _check(header: dict[str, Any], chunks: list[str], trailer: str) -> Result:
    if header.get("v") != VERSION:
        raise FrameError(f"the result frame has version {header.get('v')!r}, not {VERSION}")
    if trailer != header.get("sha256"):
        raise FrameError("the result frame's end marker does not match its header")
    try:
        raw = gzip.decompress(base64.b64decode("".join(chunks), validate=True))
    except (ValueError, OSError, EOFError, zlib.error):
        raise FrameError("the result frame is corrupted (it does not decompress)") from None
    if len(raw) != header.get("length"):
        raise FrameError(
            f"the result frame is corrupted ({len(raw)} bytes instead of {header.get('length')})"
        )
    if hashlib.sha256(raw).hexdigest() != header.get("sha256"):
        raise FrameError("the result frame is corrupted (its checksum does not match)")
    notebook = json.loads(raw)
    if not isinstance(notebook, dict):
        raise FrameError("the result frame does not hold a notebook")
    energy = header.get("energy_wh")
    return Result(
        notebook=notebook,
        state=str(header.get("state") or "failed"),
        error=header.get("error"),
        energy_wh=float(energy) if isinstance(energy, int | float) else None,
        header=header,
    )

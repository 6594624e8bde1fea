"""Compile the simulated ``libnvidia-ml.so.1`` into a cache directory, when needed."""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

LIBRARY_NAME = "libnvidia-ml.so.1"
CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = ("simworld.c", "simapi.c")
HEADERS = ("simnvml.h",)
HEADER_DISTRIBUTION = "nvidia-nvml-dev"
CACHE_ENV = "ACCELHUB_NVML_CACHE_DIR"

CFLAGS = [
    "-std=c11",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wformat=2",
    "-fPIC",
    "-fvisibility=hidden",
    "-fstack-protector-strong",
    "-D_FORTIFY_SOURCE=2",
]


class BuildError(RuntimeError):
    """The simulated NVML library could not be built; the message says why."""


def default_cache_dir() -> Path:
    """``$ACCELHUB_NVML_CACHE_DIR``, else ``$XDG_CACHE_HOME/accelhub/nvml`` (``~/.cache``)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "accelhub" / "nvml"


def find_nvml_header() -> Path:
    """The directory holding NVIDIA's ``nvml.h``, found through the installed wheel."""
    try:
        dist = importlib.metadata.distribution(HEADER_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(
            f"NVIDIA's nvml.h was not found: install the {HEADER_DISTRIBUTION} package "
            f"(pip install {HEADER_DISTRIBUTION})."
        ) from None
    for entry in dist.files or ():
        if entry.name == "nvml.h":
            header = Path(str(dist.locate_file(entry)))
            if header.is_file():
                return header.parent
    raise BuildError(f"The {HEADER_DISTRIBUTION} package is installed but holds no nvml.h.")


def find_compiler() -> str:
    """The C compiler to use: ``$CC`` or ``gcc``, which must be on ``PATH``."""
    name = os.environ.get("CC", "gcc")
    found = shutil.which(name)
    if not found:
        raise BuildError(
            f"No C compiler: {name!r} is not on PATH. Install gcc (apt-get install gcc) "
            "to build the simulated NVML library."
        )
    return found


def _inputs(include_dir: Path) -> list[Path]:
    return [CSRC / name for name in (*SOURCES, *HEADERS)] + [include_dir / "nvml.h"]


def needs_build(library: Path, include_dir: Path) -> bool:
    """Whether ``library`` is missing or older than any of its sources."""
    if not library.exists():
        return True
    built = library.stat().st_mtime
    return any(path.stat().st_mtime > built for path in _inputs(include_dir))


def build_library(cache_dir: Path | None = None, force: bool = False) -> Path:
    """Return the path of an up-to-date simulated ``libnvidia-ml.so.1``, building it if needed.

    The build goes to a temporary file renamed into place, under a lock, so concurrent
    callers and processes that have the old library loaded are never disturbed.
    """
    cache = cache_dir or default_cache_dir()
    include_dir = find_nvml_header()
    library = cache / LIBRARY_NAME
    if not force and not needs_build(library, include_dir):
        return library
    compiler = find_compiler()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and not needs_build(library, include_dir):
            return library
        fd, tmp_name = tempfile.mkstemp(prefix=".libnvidia-ml.", suffix=".tmp", dir=cache)
        os.close(fd)
        argv = [
            compiler,
            *CFLAGS,
            f"-I{include_dir}",
            "-shared",
            f"-Wl,-soname,{LIBRARY_NAME}",
            "-Wl,--no-undefined",
            "-o",
            tmp_name,
            *(str(CSRC / name) for name in SOURCES),
            "-lpthread",
            "-lm",
        ]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise BuildError(f"Compiling the simulated NVML library failed:\n{result.stderr}")
            os.replace(tmp_name, library)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
    return library

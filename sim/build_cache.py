"""A cache of simulator builds, so that a design is compiled once and simulated many times.

Verilator turns a design into C++ and compiles it, which takes far longer than simulating a few
frames; the test suite and ``bnn-hw sim`` simulate the same designs run after run. :func:`cached_build`
builds with the cocotb runner's own :meth:`~cocotb_tools.runner.Runner.build` into a new folder of the
cache and keeps it under a key: the SHA-256 of every source file's bytes, the top module, the
simulator's arguments and timescale, the simulator's version, cocotb's version and library folder (the
executable links its VPI library from there), and the make variables set in ``MAKEFLAGS`` (Verilator's
C++ compile reads them).
A second build of the same design finds the folder and compiles nothing.

Where: the folder named by ``BNN_HW_SIM_CACHE``; unset, ``$XDG_CACHE_HOME/bnn-hw/sim`` or
``~/.cache/bnn-hw/sim``; ``BNN_HW_SIM_CACHE=off`` (or ``0``, ``none``, empty) builds every time, in a
folder of the run. One folder an entry (``<simulator>-<top>-<key>``), holding only what a simulation
runs (Verilator's executable, Icarus's ``sim.vvp``) and ``key.json`` (what went into the key).

Safe for processes that build the same design at once: each builds in its own temporary folder in the
cache and renames it into place (atomic on one file system); the first rename wins, the others
discard theirs. An entry is never changed once in place, so a reader sees all of it or nothing.

Bounded: after each new entry, the least recently used entries go until the cache holds at most
``BNN_HW_SIM_CACHE_MB`` megabytes (default 2048), except entries used in the last
:data:`IN_USE_SECONDS` (a simulation may be about to start them). Clear it by deleting the folder
(``rm -rf ~/.cache/bnn-hw/sim``), best when no simulation runs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

__all__ = ["CACHE_ENV", "SIZE_ENV", "Build", "cache_root", "cached_build"]

CACHE_ENV = "BNN_HW_SIM_CACHE"
SIZE_ENV = "BNN_HW_SIM_CACHE_MB"
DEFAULT_MB = 2048
#: Entries used this recently are not evicted.
IN_USE_SECONDS = 600
#: Bumped when what an entry holds or how its key is made changes.
FORMAT = 1
_OFF = {"", "0", "off", "none", "no", "false"}


@dataclass(frozen=True)
class Build:
    path: Path     #: the folder to give the cocotb runner's ``test`` as ``build_dir``
    built: bool    #: whether this call compiled the design (False: found in the cache)


def cache_root() -> Path | None:
    """The cache folder, or None when caching is off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().resolve() / "bnn-hw" / "sim"


@lru_cache(maxsize=None)
def _tool_version(simulator: str, path: str) -> str:
    """The simulator's own version line (``verilator --version``, ``iverilog -V``) as found on ``path``."""
    command = ["verilator", "--version"] if simulator == "verilator" else ["iverilog", "-V"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PATH": path},
                             timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _make_variables() -> list[str]:
    """The variable assignments in ``MAKEFLAGS`` (they override Verilator's make rules), without the
    jobserver and other switches that change from run to run and not the result."""
    return sorted(word for word in os.environ.get("MAKEFLAGS", "").split() if "=" in word and not word.startswith("-"))


def _key(simulator: str, sources: Sequence[Path], toplevel: str, build_args: Sequence[str],
         timescale: tuple[str, str] | None) -> dict:
    import cocotb
    import cocotb_tools.config
    return {
        "format": FORMAT,
        "simulator": simulator,
        "simulator_version": _tool_version(simulator, os.environ.get("PATH", "")),
        "cocotb": cocotb.__version__,
        "cocotb_libs": str(cocotb_tools.config.libs_dir),
        "toplevel": toplevel,
        "build_args": list(build_args),
        "timescale": list(timescale) if timescale else None,
        "make_variables": _make_variables() if simulator == "verilator" else [],
        "sources": [[Path(s).name, hashlib.sha256(Path(s).read_bytes()).hexdigest()] for s in sources],
    }


def _keep(simulator: str, toplevel: str) -> set[str]:
    """The files of a build that a simulation needs (the rest are the compiler's intermediates)."""
    return {toplevel} if simulator == "verilator" else {"sim.vvp", "cmds.f"}


def cached_build(runner, simulator: str, sources: Sequence[Path], *, toplevel: str, build_args: Sequence[str],
                 timescale: tuple[str, str] | None, log_file: Path, fallback_dir: Path) -> Build:
    """Build ``sources`` with the cocotb ``runner`` unless the cache holds the same build; return where
    the build is. With the cache off, builds in ``fallback_dir`` every time. The build's log goes to
    ``log_file`` (on a cache hit it says which entry was used). Raises what ``runner.build`` raises."""
    options = dict(hdl_toplevel=toplevel, build_args=list(build_args), timescale=timescale, log_file=log_file)
    root = cache_root()
    if root is None:
        runner.build(sources=list(sources), build_dir=fallback_dir, always=True, **options)
        return Build(fallback_dir, True)
    key = _key(simulator, sources, toplevel, build_args, timescale)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    entry = root / f"{simulator}-{toplevel}-{digest}"
    if _use(entry):
        Path(log_file).write_text(f"bnn-hw: reused the cached build {entry}\n")
        return Build(entry, False)
    root.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".build-{entry.name}-", dir=root))
    try:
        runner.build(sources=list(sources), build_dir=temporary, always=True, **options)
        keep = _keep(simulator, toplevel)
        for item in temporary.iterdir():
            if item.name not in keep:
                shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
        (temporary / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
        try:
            os.rename(temporary, entry)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # another process put the same build in place first: use theirs
        _use(entry)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    _evict(root, keep=entry)
    return Build(entry, True)


def _use(entry: Path) -> bool:
    """Mark ``entry`` as used now; False if it is not in the cache."""
    try:
        os.utime(entry)
    except FileNotFoundError:
        return False
    return True


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def _evict(root: Path, keep: Path):
    """Delete least recently used entries until the cache is within its size, sparing ``keep`` and
    entries in use; a leftover temporary folder (of a build or an eviction that died) goes after a day."""
    limit = int(float(os.environ.get(SIZE_ENV, DEFAULT_MB)) * 2 ** 20)
    now = time.time()
    entries = []
    for item in root.iterdir():
        try:
            used = item.stat().st_mtime
            if item.name.startswith("."):
                if now - used > 86_400:
                    shutil.rmtree(item, ignore_errors=True)
                continue
            if not item.is_dir():
                continue
            entries.append((used, item, _size(item)))
        except FileNotFoundError:  # another process evicted it meanwhile
            continue
    total = sum(size for _, _, size in entries)
    for used, item, size in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if item == keep or now - used < IN_USE_SECONDS:
            continue
        gone = root / f".evict-{item.name}-{os.getpid()}"
        try:
            os.rename(item, gone)  # atomic: no reader sees an entry half deleted
        except FileNotFoundError:
            continue
        shutil.rmtree(gone, ignore_errors=True)
        total -= size

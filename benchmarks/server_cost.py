"""Cells of the UART inference server alone: the figures behind ``server_reserve``.

    python benchmarks/server_cost.py

Synthesises (yosys ``synth_ecp5``, as ``benchmarks/cell_counts.py`` does) the
:class:`~bnn_hw.hdl.uart_server.InferenceServer` around a small random network (4 inputs, 8 hidden
units, 10 classes), once in one clock domain and once with the pipeline in a domain of its own (the
ULX3S's default since the server got its own 50 MHz clock), and the network alone; prints each
one's cells less the network's.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from amaranth import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.back import verilog

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from cell_counts import TOP, synthesise   # noqa: E402
from conftest import random_mlp           # noqa: E402

from bnn_hw.boards.toolchain import toolchain_env   # noqa: E402
from bnn_hw.compiler import compile_model            # noqa: E402
from bnn_hw.compiler.io_layout import plan_info      # noqa: E402
from bnn_hw.hdl.pipeline import build_pipeline       # noqa: E402
from bnn_hw.hdl.uart_server import InferenceServer   # noqa: E402

CELLS = ("LUT4", "CCU2C", "TRELLIS_DPR16X4", "TRELLIS_FF")


class _Server(Elaboratable):
    """The server around ``plan``'s pipeline; with ``split``, the pipeline in domain ``core``."""

    def __init__(self, plan, split):
        self.plan, self.split = plan, split
        self.rx, self.tx, self.core_clk, self.core_rst = Signal(init=1), Signal(), Signal(), Signal()

    def elaborate(self, platform):
        m = Module()
        if self.split:
            m.domains.core = ClockDomain("core")
            m.d.comb += [ClockSignal("core").eq(self.core_clk), ResetSignal("core").eq(self.core_rst)]
        m.submodules.server = server = InferenceServer.for_pipeline(
            build_pipeline(self.plan), plan_info(self.plan), divisor=50, pipeline_domain="core" if self.split else "sync")
        m.d.comb += [server.rx.eq(self.rx), self.tx.eq(server.tx)]
        return m


def cells(design, ports, folder: Path, yosys: str) -> dict[str, int]:
    """The cells yosys maps ``design`` to."""
    path = folder / f"{TOP}.v"
    path.write_text(verilog.convert(design, name=TOP, ports=ports))
    _, stat = synthesise(path, yosys)
    return {c: stat["num_cells_by_type"].get(c, 0) for c in CELLS}


def main() -> None:
    torch.manual_seed(0)
    plan = compile_model(random_mlp(4, [8], 10, seed=3))
    yosys = toolchain_env()["YOSYS"]
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = build_pipeline(plan)
        alone = cells(pipeline, None, Path(tmp), yosys)
        for split in (False, True):
            top = _Server(plan, split)
            ports = [top.rx, top.tx] + ([top.core_clk, top.core_rst] if split else [])
            total = cells(top, ports, Path(tmp), yosys)
            label = "pipeline in its own domain" if split else "one clock domain"
            print(f"server, {label}: " + ", ".join(f"{total[c] - alone[c]} {c}" for c in CELLS))


if __name__ == "__main__":
    main()

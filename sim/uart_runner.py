"""Simulate the whole UART inference server of a plan under cocotb, talking to it over its serial pins.

:func:`simulate_uart` writes the :class:`~bnn_hw.hdl.uart_server.InferenceServer` around the plan's
pipeline as Verilog, builds it with Verilator (or Icarus), and sends raw requests through a simulated
serial port with the host's :func:`bnn_hw.wire.exchange` (:mod:`bnn_hw.sim.uart_testbench`); it
returns the device's replies.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Sequence

from ..compiler.io_layout import plan_info
from ..compiler.plan import Plan
from ..hdl.pipeline import build_pipeline
from ..hdl.uart_server import SERVER_TOPLEVEL, InferenceServer, write_server_verilog
from ..wire import ProtocolError, Reply
from .runner import _run_cocotb

__all__ = ["simulate_uart", "CLOCK_NS"]

#: The simulated clock period.
CLOCK_NS = 10


def simulate_uart(plan: Plan, requests: Sequence[bytes], *, divisor: int = 8, timeout_bits: int = 1024,
                  design: int | None = None, simulator: str = "verilator",
                  build_dir: str | os.PathLike | None = None, verbose: bool = False) -> list[Reply]:
    """Send each of ``requests`` (raw bytes) to the simulated server for ``plan`` and return its replies.

    ``divisor`` is the clock cycles per bit, ``timeout_bits`` the server's request timeout and
    ``design`` its design id (default: the plan's). Raises :class:`ProtocolError` when the device does
    not answer a request properly, :class:`~bnn_hw.errors.ToolchainError` when the simulation fails.
    """
    build_dir = Path(build_dir or tempfile.mkdtemp(prefix="bnn_hw_uart_")).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    server = InferenceServer.for_pipeline(build_pipeline(plan), plan_info(plan, design), divisor=divisor,
                                          timeout_bits=timeout_bits)
    verilog = write_server_verilog(server, build_dir / f"{SERVER_TOPLEVEL}.v")
    # a read may wait for the device's timeout, then for a frame through the pipeline
    busy_cycles = 4 * sum(stage.cost.cycles for stage in plan.stages) + 10_000
    job, result = build_dir / "uart_job.json", build_dir / "uart_result.json"
    job.write_text(json.dumps({
        "requests": [bytes(r).hex() for r in requests], "clock_ns": CLOCK_NS, "divisor": divisor,
        "timeout_ns": ((timeout_bits + 20) * divisor + busy_cycles) * CLOCK_NS,
    }))
    if result.exists():
        result.unlink()
    _run_cocotb(simulator, verilog, build_dir, job, result, verbose, toplevel=SERVER_TOPLEVEL,
                test_module="bnn_hw.sim.uart_testbench")
    out = json.loads(result.read_text())
    if out["framing_errors"]:
        raise ProtocolError(f"the device sent {out['framing_errors']} byte(s) with a low stop bit")
    if out["error"]:
        raise ProtocolError(out["error"])
    return [Reply(r["status"], bytes.fromhex(r["payload"])) for r in out["replies"]]

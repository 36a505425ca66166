"""The cocotb testbench for the UART inference server (run by :mod:`bnn_hw.sim.uart_runner`, not by pytest).

It reads its job (JSON) from the file named by ``BNN_HW_SIM_JOB``: the raw request bytes (hex), the
clock period, the clock cycles per bit and how long a read may wait. A :class:`SimulatedSerialPort`
on the ``rx`` / ``tx`` pins, which drives and samples them once per bit (never once per clock
cycle), carries the requests of :func:`bnn_hw.wire.exchange` running in a :func:`cocotb.bridge`
thread: the same code with which the host's :class:`bnn_hw.protocol.Client` talks to a board. The
replies (or the protocol error that ended the run) go to the JSON file named by ``BNN_HW_SIM_RESULT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.task import bridge, resume
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, Timer
from cocotb.utils import get_sim_time

from ..wire import ProtocolError, exchange, line_levels


class SimulatedSerialPort:
    """A pyserial-like port (``write(data)``, ``read(size)``) on a simulated device's serial pins.

    ``rx`` is the device's input, ``tx`` its output, ``bit_ns`` the bit time. A background task
    decodes every byte the device sends; ``read`` returns up to ``size`` of them, fewer if
    ``timeout_ns`` plus ``byte_ns`` per requested byte pass first (like a serial timeout). Its
    ``write`` and ``read`` block, so they are called from a :func:`cocotb.bridge` thread.
    """

    def __init__(self, rx, tx, clk, bit_ns: int, timeout_ns: int):
        self._rx, self._tx, self._clk = rx, tx, clk
        self._bit_ns, self._timeout_ns = bit_ns, timeout_ns
        self._received = bytearray()
        self._arrived = Event()
        self.framing_errors = 0
        cocotb.start_soon(self._listen())

    async def _listen(self):
        bit = self._bit_ns
        while True:
            await FallingEdge(self._tx)
            await Timer(bit + bit // 2, unit="ns")      # the middle of data bit 0
            byte = 0
            for k in range(8):
                byte |= int(self._tx.value) << k
                await Timer(bit, unit="ns")
            if int(self._tx.value):                      # the middle of the stop bit
                self._received.append(byte)
                self._arrived.set()
            else:
                self.framing_errors += 1

    @resume
    async def write(self, data: bytes) -> int:
        await FallingEdge(self._clk)                     # bit edges half a clock away from sampling
        levels = [level for byte in data for level in line_levels(byte)]
        start = 0
        for end in range(1, len(levels) + 1):           # one wait per run of equal levels
            if end == len(levels) or levels[end] != levels[start]:
                self._rx.value = levels[start]
                await Timer((end - start) * self._bit_ns, unit="ns")
                start = end
        return len(data)

    @resume
    async def read(self, size: int) -> bytes:
        deadline = get_sim_time("ns") + self._timeout_ns + size * 10 * self._bit_ns
        while len(self._received) < size:
            remaining = int(deadline - get_sim_time("ns"))
            if remaining <= 0:
                break
            self._arrived.clear()
            await First(self._arrived.wait(), Timer(remaining, unit="ns"))
        data = bytes(self._received[:size])
        del self._received[:size]
        return data


@bridge
def _exchange(port: SimulatedSerialPort, requests: list[bytes]) -> tuple[list, str | None]:
    """Send every request with :func:`~bnn_hw.wire.exchange`; the replies, and the error that
    stopped the run if any."""
    replies = []
    for index, request in enumerate(requests):
        try:
            reply = exchange(port, request)
        except ProtocolError as error:
            return replies, f"request {index}: {error}"
        replies.append({"status": int(reply.status), "payload": reply.payload.hex()})
    return replies, None


@cocotb.test()
async def serve_requests(dut):
    job = json.loads(Path(os.environ["BNN_HW_SIM_JOB"]).read_text())
    clock_ns, divisor = job["clock_ns"], job["divisor"]
    cocotb.start_soon(Clock(dut.clk, clock_ns, unit="ns", impl="gpi").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 3)

    port = SimulatedSerialPort(dut.rx, dut.tx, dut.clk, clock_ns * divisor, job["timeout_ns"])
    replies, error = await _exchange(port, [bytes.fromhex(r) for r in job["requests"]])
    Path(os.environ["BNN_HW_SIM_RESULT"]).write_text(json.dumps({
        "replies": replies, "error": error, "framing_errors": port.framing_errors,
        "sim_ns": get_sim_time("ns"),
    }))

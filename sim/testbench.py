"""The cocotb testbench for a generated pipeline (run by :mod:`bnn_hw.sim.runner`, not by pytest).

It reads its job from the ``.npz`` file named by ``BNN_HW_SIM_JOB``: the input words of all frames
(decimal text, since words can be wider than 64 bits) and each frame's word count,
and stall probabilities for the producer and the consumer. It streams the frames in, collects one
output word per frame, and writes the raw output words with the cycle of every input and output
handshake to ``BNN_HW_SIM_RESULT``. Signals are driven and sampled on the falling edge, after the
design has settled, so handshakes are judged the same way on Verilator and Icarus.

The pipeline fails (the result holds an ``error`` and the test fails) if it does not give every
frame's output in time, or, in the time the longest frame took after the last output, gives an
output more or leaves input words unread.
"""

from __future__ import annotations

import os
import random

import numpy as np
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


@cocotb.test()
async def stream_frames(dut):
    job = np.load(os.environ["BNN_HW_SIM_JOB"], allow_pickle=False)
    stream = [int(w) for w in job["words"].tolist()]  # decimal text: words may exceed 64 bits
    frame_lengths = job["frame_lengths"].tolist()
    in_stall, out_stall = float(job["in_stall"]), float(job["out_stall"])
    rng = random.Random(int(job["seed"]))
    timeout = int(job["timeout_cycles"])

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    frame_starts = np.cumsum([0] + frame_lengths[:-1]).tolist()
    frames = len(frame_lengths)
    outputs, out_cycles, in_cycles = [], [], []
    sent, cycle = 0, 0

    def fail(message: str):
        np.savez(os.environ["BNN_HW_SIM_RESULT"], error=np.array(message))
        raise AssertionError(message)

    while len(outputs) < frames:
        await FallingEdge(dut.clk)
        cycle += 1
        if cycle > timeout:
            fail(f"{len(outputs)} of {frames} frames out after {timeout} cycles (the pipeline stalled or "
                 f"deadlocked)")
        offer = sent < len(stream) and rng.random() >= in_stall
        dut.i__valid.value = int(offer)
        if offer:
            dut.i__payload.value = stream[sent]
        dut.o__ready.value = int(rng.random() >= out_stall)
        await ReadOnly()
        if offer and dut.i__ready.value:
            if sent in frame_starts:
                in_cycles.append(cycle)
            sent += 1
        if dut.o__valid.value and dut.o__ready.value:
            outputs.append(int(dut.o__payload.value))
            out_cycles.append(cycle)
    # the last output may come before the frame's last input words (those no output depends on, as
    # rows a floor-mode pool drops); the pipeline must still take them, and give nothing more
    longest = max(o - i for i, o in zip(in_cycles, out_cycles))
    for _ in range(longest + 16):
        await FallingEdge(dut.clk)
        dut.i__valid.value = int(sent < len(stream))
        if sent < len(stream):
            dut.i__payload.value = stream[sent]
        dut.o__ready.value = 1
        await ReadOnly()
        if sent < len(stream) and dut.i__ready.value:
            sent += 1
        if dut.o__valid.value:
            fail(f"an output more than the {frames} frames sent: {int(dut.o__payload.value)}")
    if sent < len(stream):
        fail(f"{len(stream) - sent} of {len(stream)} input words left unread after the last frame's output")
    np.savez(os.environ["BNN_HW_SIM_RESULT"],
             outputs=np.array([str(o) for o in outputs]),  # arbitrary-width integers as decimal text
             in_cycles=np.array(in_cycles), out_cycles=np.array(out_cycles))

"""A free-running pipeline with credit flow control, for stages that take one word per cycle.

Its registers load every cycle (no clock enable: a stall signal fanned out to thousands of pipeline
registers would set the clock rate). Stalls are absorbed by an output FIFO instead: the stage takes
an input word only while the FIFO has room for every word already inside the stage, so nothing
in flight can be lost. The FIFO holds as many words as the pipeline has stages plus four, which keeps
one word per cycle flowing while the consumer is ready. ``i.ready`` depends on a counter register
alone, so no ready signal passes through the stage combinationally.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered

__all__ = ["FreeRunningPipeline"]


class FreeRunningPipeline:
    """Build a stage's datapath between ``i`` and ``o`` (stream ports of the component being
    elaborated in module ``m``): :meth:`stage` adds a register level, :meth:`finish` drives ``o``."""

    def __init__(self, m, i, o, name: str = "pipe"):
        self.m, self.i, self.o, self.name = m, i, o, name
        self.stages = 0
        self.accepted = Signal(name=f"{name}_accepted")
        m.d.comb += self.accepted.eq(i.valid & i.ready)
        self.valid = self.accepted

    def stage(self, value, name: str) -> Signal:
        """A register loading ``value`` every cycle, and the word's valid flag beside it."""
        value = Value.cast(value)
        register = Signal(len(value), name=name, reset_less=True)
        valid = Signal(name=f"{name}_valid")
        self.m.d.sync += [register.eq(value), valid.eq(self.valid)]
        self.valid = valid
        self.stages += 1
        return register

    def stage_values(self, values, name: str) -> list:
        """Several values registered in one level (one :meth:`stage`), each returned as its own slice
        of the register."""
        values = [Value.cast(v) for v in values]
        register = self.stage(Cat(*values), name)
        held, lo = [], 0
        for value in values:
            held.append(register[lo:lo + len(value)])
            lo += len(value)
        return held

    @property
    def latency(self) -> int:
        """Cycles from taking a word to writing its result into the output FIFO."""
        return self.stages

    def finish(self, result) -> int:
        """Write ``result`` (valid with the last stage) into the output FIFO that drives ``o``; returns
        the FIFO's depth."""
        m, name = self.m, self.name
        result = Value.cast(result)
        depth = self.stages + 4   # the FIFO's own write-to-read latency, so one word a cycle flows
        m.submodules[f"{name}_fifo"] = fifo = SyncFIFOBuffered(width=len(result), depth=depth)
        m.d.comb += [fifo.w_data.eq(result), fifo.w_en.eq(self.valid)]
        wiring.connect(m, fifo.r_stream, wiring.flipped(self.o))
        inside = Signal(range(depth + 1), name=f"{name}_inside")   # words taken and not yet given
        delivered = self.o.valid & self.o.ready
        m.d.sync += inside.eq(inside + self.accepted - delivered)
        m.d.comb += self.i.ready.eq(inside < depth)
        return depth

"""The registered output of a pipelined stream stage: a result register feeding a FIFO (3 words by
default)."""

from __future__ import annotations

from amaranth.hdl import Signal, Value
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered

__all__ = ["buffered_output"]


def buffered_output(m, port, name: str = "out_fifo", depth: int = 3):
    """Drive the stream ``port`` from a ``depth``-word FIFO (3, the fewest that sustain one word per
    cycle, or more for a stage whose output comes in bursts); returns ``(valid, payload, advance)``.

    The stage sets ``valid``/``payload`` (its last pipeline register) and moves its pipeline only when
    ``advance`` is high. ``advance`` depends on the FIFO's fill level and ``valid`` alone, never on the
    consumer's ``ready``, so no ready signal passes through the stage combinationally (a long path
    through neighbouring stages into every clock enable otherwise).
    """
    width = len(Value.cast(port.payload))
    fifo = SyncFIFOBuffered(width=width, depth=max(3, depth))
    m.submodules[name] = fifo
    valid, payload, advance = Signal(name=f"{name}_valid"), Signal(width, name=f"{name}_payload", reset_less=True), Signal()
    m.d.comb += [
        advance.eq(~valid | fifo.w_rdy),
        fifo.w_en.eq(valid),
        fifo.w_data.eq(payload),
    ]
    wiring.connect(m, fifo.r_stream, wiring.flipped(port))
    return valid, payload, advance

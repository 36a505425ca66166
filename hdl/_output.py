"""The registered output of a pipelined stream stage: a result register feeding a FIFO, and a
registered advance enable for the stage's pipeline."""

from __future__ import annotations

from amaranth.hdl import Signal, Value
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered

__all__ = ["buffered_output", "CREDIT_MARGIN"]

#: FIFO words beyond the requested depth that pay for ``advance`` being a register: it is set a
#: cycle ahead from the fill level, assuming nothing is read, so two words are always kept free.
CREDIT_MARGIN = 2


def buffered_output(m, port, name: str = "out_fifo", depth: int = 3):
    """Drive the stream ``port`` from a FIFO of ``depth`` words (3 sustain one word per cycle; more
    for a stage whose output comes in bursts) plus :data:`CREDIT_MARGIN`; returns ``(valid,
    payload, advance)``.

    The stage sets ``valid``/``payload`` (its last pipeline register) and moves its pipeline only
    when ``advance`` is high; the result is written into the FIFO as the pipeline moves
    (``valid & advance``). ``advance`` is a register: high in a cycle only if the FIFO can take a
    word then, whatever the consumer reads meanwhile (it is set from the fill level and this
    cycle's write). So neither the consumer's ``ready`` nor the FIFO's level reaches the stage's
    clock enables through logic: the enable's fan-out starts at a flip-flop. (It used to be
    ``~valid | w_rdy``: the FIFO's level into a LUT placed among the enables, a 4.3 ns route before
    the stage's own control logic in a BNext build's critical path.)
    """
    width = len(Value.cast(port.payload))
    fifo = SyncFIFOBuffered(width=width, depth=max(3, depth) + CREDIT_MARGIN)
    m.submodules[name] = fifo
    valid = Signal(name=f"{name}_valid")
    payload = Signal(width, name=f"{name}_payload", reset_less=True)
    advance = Signal(init=1, name=f"{name}_advance")
    write = valid & advance
    m.d.comb += [
        fifo.w_en.eq(write),
        fifo.w_data.eq(payload),
    ]
    # next cycle's inner level is at most level + write (level counts the output register too),
    # and the FIFO takes a word while its inner part (depth - 1 words) is not full
    m.d.sync += advance.eq(fifo.level + write <= fifo.depth - 2)
    wiring.connect(m, fifo.r_stream, wiring.flipped(port))
    return valid, payload, advance

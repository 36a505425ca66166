"""Integer sums to fixed-point levels by a pipelined binary search over per-channel thresholds."""

import numpy as np
from amaranth.hdl import Cat, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ..intmath import ceil_div
from ._checks import require_positive_ints
from ._output import buffered_output
from .registry import builds

__all__ = ["ThresholdSearch"]


class ThresholdSearch(wiring.Component):
    """Map signed sums to ``base + level``, ``level`` the number of the channel's thresholds the
    sum reaches (``s >= thresholds[channel, j]``): a monotone step function such as a BatchNorm
    and fixed-point rounding folded over an integer sum.

    A vector of ``M`` channels arrives as ``ceil(M / lanes)`` words of ``lanes`` signed
    ``in_width``-bit sums (channel ``w * lanes + l`` is lane ``l`` of word ``w``) and leaves in the
    same order as ``out_width``-bit values; lanes past ``M`` give ``base``.

    Each lane searches its ``K`` thresholds in ``D = bit_length(K)`` steps, one comparison per step
    (the thresholds padded to ``2**D - 1`` with never-reached ones). Step ``d`` reads the threshold
    of its node from a ROM of ``ceil(M / lanes) * 2**d`` words (block RAM where yosys puts it),
    registers it and compares: three pipeline stages per step, so a block RAM's slow clock-to-output
    meets no logic. One word per cycle, ``3 D + 2`` cycles of latency; ``i.ready`` depends only on
    registers.

    Parameters
    ----------
    thresholds : array of int, shape (M, K), each row ascending
    lanes, in_width, out_width : int, positive
    base : int
        The value of level 0.

    Attributes
    ----------
    i : In(stream.Signature(data.ArrayLayout(signed(in_width), lanes)))
    o : Out(stream.Signature(unsigned(lanes * out_width)))
    """

    def __init__(self, thresholds, lanes, in_width, base, out_width):
        self._shape = np.shape(thresholds)
        self._args = (lanes, in_width, base, out_width)
        require_positive_ints((int, np.integer), lanes=lanes, in_width=in_width, out_width=out_width)
        t = np.asarray(thresholds)
        if t.ndim != 2 or 0 in t.shape or t.dtype.kind not in "iu":
            raise ValueError(f"thresholds must be a non-empty integer array of shape (M, K), not {t.shape}")
        if np.any(np.diff(t, axis=1) < 0):
            raise ValueError("each row of thresholds must be ascending")
        base, levels = int(base), t.shape[1] + 1
        if not -(1 << (out_width - 1)) <= base <= base + levels - 1 < (1 << (out_width - 1)):
            raise ValueError(f"values {base}..{base + levels - 1} do not fit {out_width} signed bits")
        self._thresholds, self._lanes, self._in_width, self._base = t.astype(np.int64), int(lanes), in_width, base
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(in_width), lanes))),
            "o": Out(stream.Signature(unsigned(lanes * out_width))),
        })

    def __repr__(self):
        lanes, in_width, base, out_width = self._args
        return (f"ThresholdSearch(thresholds=<{'x'.join(map(str, self._shape))}>, lanes={lanes}, "
                f"in_width={in_width}, base={base}, out_width={out_width})")

    @property
    def steps(self) -> int:
        """``D``: comparisons per value."""
        return self._thresholds.shape[1].bit_length()

    def rom_words(self, lane: int, step: int) -> list[int]:
        """The ROM of ``lane`` for ``step``: word ``g * 2**step + n`` holds the threshold that node
        ``n`` of the step compares channel ``g * lanes + lane`` with, clipped to the sums' range
        (one past it: never reached), as ``in_width + 1``-bit two's complement."""
        M, K = self._thresholds.shape
        D, w = self.steps, self._in_width
        lo, never = -(1 << (w - 1)), 1 << (w - 1)
        padded = np.full((ceil_div(M, self._lanes) * self._lanes, (1 << D) - 1), never, np.int64)
        padded[:M, :K] = np.clip(self._thresholds, lo, never)
        mask = (1 << (w + 1)) - 1
        return [int(padded[g * self._lanes + lane, (2 * n + 1) * (1 << (D - 1 - step)) - 1]) & mask
                for g in range(len(padded) // self._lanes) for n in range(1 << step)]

    def elaborate(self, platform):
        m = Module()
        lanes, w, D = self._lanes, self._in_width, self.steps
        groups = ceil_div(self._thresholds.shape[0], lanes)

        valid, payload, adv = buffered_output(m, self.o)
        m.d.comb += self.i.ready.eq(adv)
        g = Signal(range(groups))
        with m.If(self.i.valid & adv):
            m.d.sync += g.eq(0 if groups == 1 else (g + 1) % groups)

        # one register set per pipeline stage: valid, the word's channel group, and per lane the sum
        # and the search node so far (its bits the comparisons made)
        def stage(name, node_bits):
            layout = data.StructLayout({"valid": 1, "g": range(groups),
                                        "sums": data.ArrayLayout(signed(w), lanes),
                                        "nodes": data.ArrayLayout(unsigned(node_bits), lanes)})
            return Signal(layout, name=name)

        current = stage("s0", 0)
        with m.If(adv):
            m.d.sync += [current.valid.eq(self.i.valid), current.g.eq(g), current.sums.eq(self.i.payload)]
        for d in range(D):
            read, held = stage(f"s{d}_read", d), stage(f"s{d}_held", d)
            thresholds = [Signal(signed(w + 1), name=f"t{d}_{l}", reset_less=True) for l in range(lanes)]
            after = stage(f"s{d + 1}", d + 1)
            for l in range(lanes):
                rom = Memory(shape=unsigned(w + 1), depth=groups << d, init=self.rom_words(l, d))
                m.submodules[f"rom{d}_{l}"] = rom
                port = rom.read_port()
                m.d.comb += [port.addr.eq(Cat(current.nodes[l], current.g)), port.en.eq(adv)]
                with m.If(adv):
                    m.d.sync += thresholds[l].eq(port.data)
                    reached = held.sums[l] >= thresholds[l]
                    m.d.sync += after.nodes[l].eq(Cat(reached, held.nodes[l]))
            with m.If(adv):
                m.d.sync += [read.eq(current), held.eq(read),
                             after.valid.eq(held.valid), after.g.eq(held.g), after.sums.eq(held.sums)]
            current = after

        with m.If(adv):
            m.d.sync += valid.eq(current.valid)
            m.d.sync += payload.eq(Cat((self._base + current.nodes[l])[:len(payload) // lanes]
                                       for l in range(lanes)))
        return m


@builds(ops.LevelThresholds)
def _level_thresholds(op, in_type, fold):
    return ThresholdSearch(op.thresholds, fold.pe, in_type.width, op.base, op.width)

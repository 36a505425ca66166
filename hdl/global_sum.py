"""Each channel's sum over an image (:class:`bnn_hw.compiler.ops.GlobalSum`)."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ..intmath import ceil_div
from ._arith import signed_lanes
from ._checks import require_positive_ints
from ._output import buffered_output
from .registry import builds

__all__ = ["GlobalSum"]


class GlobalSum(wiring.Component):
    """Sum ``channels`` signed values over ``pixels`` pixels: a pixel arrives as ``ceil(channels /
    lanes)`` words of ``lanes`` ``in_width``-bit values, and after a frame's last pixel the sums leave
    as as many words of ``width``-bit values (wrapping; lanes past the last channel: don't care).

    The accumulators are a rotating register file, one entry per word of a pixel: each input word
    is added to the first and the file turns by one. One word per cycle; ``i.ready`` depends only on
    registers.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(lanes * in_width)))
    o : Out(stream.Signature(unsigned(lanes * width)))
    """

    def __init__(self, lanes, channels, pixels, in_width, width):
        # recorded first, so that __repr__ works if validation fails
        self._lanes, self._channels, self._pixels = lanes, channels, pixels
        self._in_width, self._width = in_width, width
        require_positive_ints(lanes=lanes, channels=channels, pixels=pixels, in_width=in_width, width=width)
        super().__init__({
            "i": In(stream.Signature(unsigned(lanes * in_width))),
            "o": Out(stream.Signature(unsigned(lanes * width))),
        })

    def __repr__(self):
        return (f"GlobalSum(lanes={self._lanes}, channels={self._channels}, pixels={self._pixels}, "
                f"in_width={self._in_width}, width={self._width})")

    def elaborate(self, platform):
        m = Module()
        lanes, wi, wo = self._lanes, self._in_width, self._width
        words = ceil_div(self._channels, lanes)
        valid, payload, adv = buffered_output(m, self.o)
        m.d.comb += self.i.ready.eq(adv)
        entries = [Signal(lanes * wo, name=f"acc{k}") for k in range(words)]
        pixel, word = Signal(range(self._pixels)), Signal(range(words))
        last = Signal()
        m.d.comb += last.eq(pixel == self._pixels - 1)
        sums = Cat((total + x)[:wo] for total, x in zip(signed_lanes(entries[0], wo, lanes),
                                                         signed_lanes(self.i.payload, wi, lanes)))
        with m.If(adv):
            m.d.sync += [valid.eq(self.i.valid & last), payload.eq(sums)]
        with m.If(self.i.valid & adv):
            m.d.sync += [entries[k].eq(entries[k + 1]) for k in range(words - 1)]
            m.d.sync += entries[-1].eq(Mux(last, 0, sums))
            m.d.sync += word.eq(Mux(word == words - 1, 0, word + 1))
            with m.If(word == words - 1):
                m.d.sync += pixel.eq(Mux(last, 0, pixel + 1))
        return m


@builds(ops.GlobalSum)
def _global_sum(op, in_type, fold):
    h, w, c = in_type.shape
    return GlobalSum(fold.pe, c, h * w, in_type.width, in_type.width + op.extra_bits(in_type))

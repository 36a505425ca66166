"""A fixed-point value rounded to another grid (:class:`bnn_hw.compiler.ops.Rescale`)."""

from amaranth.hdl import Cat, Module, Mux, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ._arith import signed_lanes
from ._checks import require_positive_ints
from ._output import buffered_output
from .registry import builds

__all__ = ["Rescale"]


class Rescale(wiring.Component):
    """``lanes`` signed ``in_width``-bit values per word to ``width``-bit ones: each shifted right by
    ``shift`` bits rounding half to even (left for a negative ``shift``), then clamped to the
    ``width``-bit range. One word per cycle, registered.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(lanes * in_width)))
    o : Out(stream.Signature(unsigned(lanes * width)))
    """

    def __init__(self, lanes, in_width, shift, width):
        # recorded first, so that __repr__ works if validation fails
        self._lanes, self._in_width, self._shift, self._width = lanes, in_width, shift, width
        require_positive_ints(lanes=lanes, in_width=in_width, width=width)
        if not isinstance(shift, int):
            raise ValueError(f"shift must be an integer, not {shift!r}")
        super().__init__({
            "i": In(stream.Signature(unsigned(lanes * in_width))),
            "o": Out(stream.Signature(unsigned(lanes * width))),
        })

    def __repr__(self):
        return f"Rescale(lanes={self._lanes}, in_width={self._in_width}, shift={self._shift}, width={self._width})"

    def _round(self, v):
        """``v * 2**-shift``, rounded half to even."""
        d = self._shift
        if d <= 0:
            return v << -d
        q, r = v >> d, v[:d]
        half = 1 << (d - 1)
        up = (r > half) | ((r == half) & q[0])
        return q + up

    def elaborate(self, platform):
        m = Module()
        w, lo, hi = self._in_width, -(1 << (self._width - 1)), (1 << (self._width - 1)) - 1
        valid, payload, adv = buffered_output(m, self.o)
        m.d.comb += self.i.ready.eq(adv)
        lanes = []
        for value in signed_lanes(self.i.payload, w, self._lanes):
            v = self._round(value)
            lanes.append(Mux(v < lo, lo, Mux(v > hi, hi, v))[:self._width])
        with m.If(adv):
            m.d.sync += [valid.eq(self.i.valid), payload.eq(Cat(lanes))]
        return m


@builds(ops.Rescale)
def _rescale(op, in_type, fold):
    return Rescale(fold.pe, in_type.width, op.shift, op.width)

"""Width converter (gearbox) for bit-vector streams."""

import math

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import require_positive_ints

__all__ = ["Repack"]


def _ceil_div(a, b):
    return -(-a // b)


class Repack(wiring.Component):
    """Re-pack a stream of ``vector_bits``-bit vectors from one word width to another.

    Each vector arrives as ``ceil(vector_bits / in_width)`` words of ``in_width`` bits and leaves
    as ``ceil(vector_bits / out_width)`` words of ``out_width`` bits. Bit ``k`` of a vector is bit
    ``k % width`` of word ``k // width`` (LSB first). The padding bits of the last input word of
    each vector are ignored (masked), and the padding bits of the last output word are zero.
    Vectors follow each other back to back without limit.

    With ``out_vector_bits`` the output is cut into vectors of that many bits instead (the bits of
    consecutive input vectors, concatenated): pixels to a whole image, or an image to pixels.

    The converter keeps a shift buffer of ``in_width + out_width + max(in_width, out_width)`` bits
    in which vectors are packed contiguously, so it sustains one word per cycle on whichever side
    is the bottleneck. ``i.ready`` and ``o.valid`` depend only on internal registers (there are no
    combinational paths between the two sides). Latency: an input word can leave one cycle after
    it is accepted.

    Timing: an accepted word is inserted at the buffer's fill level, a register, so the variable
    shift never depends on ``o.ready``; ``o.ready`` only picks between the buffer and the buffer
    shifted by a constant. The fill level counts units of the greatest common divisor of all word
    sizes, so the insertion shifter has only as many positions as the buffer has units.

    Parameters
    ----------
    vector_bits : int
        Bits per vector, at least 1.
    in_width, out_width : int
        Input and output word widths in bits, at least 1.
    out_vector_bits : int, optional
        Bits per output vector (default ``vector_bits``).

    Attributes
    ----------
    i : In(stream.Signature(unsigned(in_width)))
    o : Out(stream.Signature(unsigned(out_width)))
    """

    def __init__(self, vector_bits, in_width, out_width, out_vector_bits=None):
        self._vector_bits = vector_bits
        self._in_width = in_width
        self._out_width = out_width
        self._out_vector_bits = vector_bits if out_vector_bits is None else out_vector_bits
        require_positive_ints(vector_bits=vector_bits, in_width=in_width, out_width=out_width,
                              out_vector_bits=self._out_vector_bits)
        super().__init__({
            "i": In(stream.Signature(unsigned(in_width))),
            "o": Out(stream.Signature(unsigned(out_width))),
        })

    @property
    def vector_bits(self):
        return self._vector_bits

    @property
    def in_width(self):
        return self._in_width

    @property
    def out_width(self):
        return self._out_width

    @property
    def in_words(self):
        """Input words per vector."""
        return _ceil_div(self._vector_bits, self._in_width)

    @property
    def out_words(self):
        """Output words per output vector."""
        return _ceil_div(self._out_vector_bits, self._out_width)

    def __repr__(self):
        extra = (f", out_vector_bits={self._out_vector_bits}"
                 if self._out_vector_bits != self._vector_bits else "")
        return (f"Repack(vector_bits={self._vector_bits}, in_width={self._in_width}, "
                f"out_width={self._out_width}{extra})")

    def elaborate(self, platform):
        m = Module()

        IV, OV, IW, OW = self._vector_bits, self._out_vector_bits, self._in_width, self._out_width
        in_words, out_words = self.in_words, self.out_words
        last_in_bits = IV - (in_words - 1) * IW     # real bits in the last input word
        last_out_bits = OV - (out_words - 1) * OW   # real bits in the last output word
        unit = math.gcd(IW, OW, last_in_bits, last_out_bits)   # every fill level is a multiple
        capacity = IW + OW + max(IW, OW)

        buf = Signal(capacity)                      # valid bits are buf[:level], the rest zero
        units = Signal(range(capacity // unit + 1))  # the fill level, in units
        in_cnt = Signal(range(in_words))
        out_cnt = Signal(range(out_words))

        in_last = Signal()
        out_last = Signal()
        m.d.comb += [
            in_last.eq(in_cnt == in_words - 1),
            out_last.eq(out_cnt == out_words - 1),
        ]

        # Output side: a word is ready once all of its real bits are buffered.
        m.d.comb += self.o.valid.eq(units >= Mux(out_last, last_out_bits // unit, OW // unit))
        out_mask = Signal(OW)
        m.d.comb += out_mask.eq(Mux(out_last, Const((1 << last_out_bits) - 1, OW),
                                    Const((1 << OW) - 1, OW)))
        m.d.comb += self.o.payload.eq(buf[:OW] & out_mask)

        # Input side: accept a word when a full word fits, whatever is emitted this cycle.
        m.d.comb += self.i.ready.eq(units <= (capacity - IW) // unit)

        take = Signal()
        put = Signal()
        m.d.comb += [
            take.eq(self.o.valid & self.o.ready),
            put.eq(self.i.valid & self.i.ready),
        ]

        # Insert the accepted word at the fill level (a register), then drop an emitted word by a
        # constant shift: o.ready only drives the last multiplexer.
        in_mask = Signal(IW)
        m.d.comb += in_mask.eq(Mux(in_last, Const((1 << last_in_bits) - 1, IW),
                                   Const((1 << IW) - 1, IW)))
        offset = _times_constant(units, unit)
        merged = Signal(capacity)
        m.d.comb += merged.eq(buf | Mux(put, (self.i.payload & in_mask) << offset, 0))
        m.d.sync += buf.eq(Mux(take, Mux(out_last, merged >> last_out_bits, merged >> OW), merged))

        in_units = Mux(put, Mux(in_last, last_in_bits // unit, IW // unit), 0)
        out_units = Mux(take, Mux(out_last, last_out_bits // unit, OW // unit), 0)
        m.d.sync += units.eq(units + in_units - out_units)
        with m.If(take):
            m.d.sync += out_cnt.eq(Mux(out_last, 0, out_cnt + 1))
        with m.If(put):
            m.d.sync += in_cnt.eq(Mux(in_last, 0, in_cnt + 1))

        return m


def _times_constant(value, factor):
    """``value * factor`` with the factor's power-of-two part as constant zero bits, so that a shift by
    the result has no stages for them."""
    zeros = (factor & -factor).bit_length() - 1
    odd = factor >> zeros
    scaled = value if odd == 1 else value * odd
    return Cat(Const(0, zeros), scaled) if zeros else scaled

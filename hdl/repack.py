"""Width converter (gearbox) for bit-vector streams."""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
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
        capacity = IW + OW + max(IW, OW)

        buf = Signal(capacity)                      # valid bits are buf[:level], the rest zero
        level = Signal(range(capacity + 1))
        in_cnt = Signal(range(in_words))
        out_cnt = Signal(range(out_words))

        in_last = Signal()
        out_last = Signal()
        m.d.comb += [
            in_last.eq(in_cnt == in_words - 1),
            out_last.eq(out_cnt == out_words - 1),
        ]

        # Output side: a word is ready once all of its real bits are buffered.
        need = Signal(range(OW + 1))
        m.d.comb += [
            need.eq(Mux(out_last, last_out_bits, OW)),
            self.o.valid.eq(level >= need),
        ]
        out_mask = Signal(OW)
        m.d.comb += out_mask.eq(Mux(out_last, Const((1 << last_out_bits) - 1, OW),
                                    Const((1 << OW) - 1, OW)))
        m.d.comb += self.o.payload.eq(buf[:OW] & out_mask)

        # Input side: accept a word when a full word fits, whatever is emitted this cycle.
        m.d.comb += self.i.ready.eq(level <= capacity - IW)

        take = Signal()
        put = Signal()
        m.d.comb += [
            take.eq(self.o.valid & self.o.ready),
            put.eq(self.i.valid & self.i.ready),
        ]

        shift_out = Signal(range(OW + 1))
        m.d.comb += shift_out.eq(Mux(take, need, 0))
        shifted = Signal(capacity)
        m.d.comb += shifted.eq(buf >> shift_out)

        in_bits = Signal(range(IW + 1))
        in_mask = Signal(IW)
        m.d.comb += [
            in_bits.eq(Mux(put, Mux(in_last, last_in_bits, IW), 0)),
            in_mask.eq(Mux(in_last, Const((1 << last_in_bits) - 1, IW),
                           Const((1 << IW) - 1, IW))),
        ]
        base = Signal(range(capacity + 1))
        m.d.comb += base.eq(level - shift_out)
        incoming = Signal(capacity)
        m.d.comb += incoming.eq(Mux(put, (self.i.payload & in_mask) << base, 0))

        m.d.sync += [
            buf.eq(shifted | incoming),
            level.eq(base + in_bits),
        ]
        with m.If(take):
            m.d.sync += out_cnt.eq(Mux(out_last, 0, out_cnt + 1))
        with m.If(put):
            m.d.sync += in_cnt.eq(Mux(in_last, 0, in_cnt + 1))

        return m

"""Width converter (gearbox) for bit-vector streams."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

# how it converts is the compiler's plan, which its gearbox cost model counts
from ..compiler.microarch import (continuous_words, deserializer_realigns, last_word_bits, repack_mode,
                                  shift_buffer_geometry)
from ..intmath import ceil_div
from ._checks import require_positive_ints

__all__ = ["Repack"]

#: Output words of at least this many bits are assembled in slots (:meth:`Repack._deserialize_wide`);
#: the shipped examples' deserialisers (at most 256 bits) meet their clocks as they are.
WIDE_OUTPUT_BITS = 512


class Repack(wiring.Component):
    """Re-pack a stream of ``vector_bits``-bit vectors from one word width to another.

    Each vector arrives as ``ceil(vector_bits / in_width)`` words of ``in_width`` bits and leaves
    as ``ceil(vector_bits / out_width)`` words of ``out_width`` bits. Bit ``k`` of a vector is bit
    ``k % width`` of word ``k // width`` (LSB first). The padding bits of the last input word of
    each vector are ignored (masked), and the padding bits of the last output word are zero.
    Vectors follow each other back to back without limit.

    With ``out_vector_bits`` the output is cut into vectors of that many bits instead (the bits of
    consecutive input vectors, concatenated): pixels to a whole image, or an image to pixels.

    Where one width is a multiple of the other and the vectors are not re-cut, the words are
    whole numbers of each other: a wide input word is held (with a second register for the next
    one) and sent slice by slice, or narrow input words shift into a wide word (also when vectors
    are re-cut but every word on both sides is full, so the bits run on as one stream). Otherwise
    the converter keeps a shift buffer of ``in_width + out_width + max(in_width, out_width)`` bits
    in which vectors are packed contiguously. Either way it sustains one word per cycle on
    whichever side is the bottleneck, ``i.ready`` and ``o.valid`` depend only on internal
    registers (there are no combinational paths between the two sides), and an input word can
    leave one cycle after it is accepted. (A 104-bit result sent as bytes costs about 250 LUT4 as
    slices and 1,300 in a shift buffer, yosys ``synth_ecp5``.)

    Timing (shift buffer): an accepted word is inserted at the buffer's fill level, a register, so the variable
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
    def out_vector_bits(self):
        return self._out_vector_bits

    @property
    def in_words(self):
        """Input words per vector."""
        return ceil_div(self._vector_bits, self._in_width)

    @property
    def out_words(self):
        """Output words per output vector."""
        return ceil_div(self._out_vector_bits, self._out_width)

    def __repr__(self):
        extra = (f", out_vector_bits={self._out_vector_bits}"
                 if self._out_vector_bits != self._vector_bits else "")
        return (f"Repack(vector_bits={self._vector_bits}, in_width={self._in_width}, "
                f"out_width={self._out_width}{extra})")

    def elaborate(self, platform):
        m = Module()
        IV, OV, IW, OW = self._vector_bits, self._out_vector_bits, self._in_width, self._out_width
        in_last, in_mask = self._input_position(m)
        mode = repack_mode(IV, IW, OW, OV)
        {"serialize": self._serialize, "deserialize": self._deserialize,
         "shift": self._shift_buffer}[mode](m, in_last, in_mask)
        return m

    def _input_position(self, m):
        """Count input words within a vector; returns ``(in_last, in_mask)``: whether the current input
        word is its vector's last, and the mask of its real bits."""
        in_words, IW = self.in_words, self._in_width
        last_in_bits = last_word_bits(self._vector_bits, IW)
        in_cnt = Signal(range(in_words))
        in_last, in_mask = Signal(), Signal(IW)
        m.d.comb += [
            in_last.eq(in_cnt == in_words - 1),
            in_mask.eq(Mux(in_last, Const((1 << last_in_bits) - 1, IW), Const((1 << IW) - 1, IW))),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += in_cnt.eq(Mux(in_last, 0, in_cnt + 1))
        return in_last, in_mask

    def _serialize(self, m, in_last, in_mask):
        """Input words that are whole numbers of output words: each word is held and its output-word
        slices are sent in turn, while a second register takes the next input word."""
        IW, OW = self._in_width, self._out_width
        pieces = IW // OW
        last_pieces = ceil_div(last_word_bits(self._vector_bits, IW), OW)
        cur, cur_valid, cur_last = Signal(IW), Signal(), Signal()
        nxt, nxt_valid, nxt_last = Signal(IW), Signal(), Signal()
        piece = Signal(range(pieces))
        put, take, done = Signal(), Signal(), Signal()
        m.d.comb += [
            self.i.ready.eq(~nxt_valid),
            self.o.valid.eq(cur_valid),
            self.o.payload.eq(cur.word_select(piece, OW)),
            put.eq(self.i.valid & self.i.ready),
            take.eq(self.o.valid & self.o.ready),
            done.eq(take & (piece == Mux(cur_last, last_pieces - 1, pieces - 1))),
        ]
        with m.If(take):
            m.d.sync += piece.eq(Mux(done, 0, piece + 1))
        with m.If(~cur_valid | done):        # the held word is free
            with m.If(nxt_valid):
                m.d.sync += [cur.eq(nxt), cur_last.eq(nxt_last), nxt_valid.eq(0)]
            with m.Else():
                m.d.sync += [cur.eq(self.i.payload & in_mask), cur_last.eq(in_last), cur_valid.eq(put)]
        with m.Elif(put):
            m.d.sync += [nxt.eq(self.i.payload & in_mask), nxt_last.eq(in_last), nxt_valid.eq(1)]

    def _deserialize(self, m, in_last, in_mask):
        """Output words that are whole numbers of input words: input words shift into a register
        from the top, and the word that completes an output word moves it to the output register;
        a vector's short last output word is first shifted down to bit 0, its unused slices zero."""
        IV, OV, IW, OW = self._vector_bits, self._out_vector_bits, self._in_width, self._out_width
        slices = OW // IW
        if OW >= WIDE_OUTPUT_BITS and slices >= 4 and continuous_words(IV, IW, OW, OV):
            return self._deserialize_wide(m, in_mask, slices)
        held, out, out_valid = Signal(OW - IW), Signal(OW), Signal()
        pos = Signal(range(slices))
        completes = Signal()
        put = Signal()
        assembled = Cat(held, self.i.payload & in_mask)   # the newest word in the top slice
        m.d.comb += completes.eq((pos == slices - 1) if continuous_words(IV, IW, OW, OV)
                                 else (pos == slices - 1) | in_last)
        word = assembled
        if deserializer_realigns(IV, IW, OW, OV):
            short = self.in_words % slices    # input words in a vector's last output word
            word = Mux(in_last, assembled >> ((slices - short) * IW), assembled)
        m.d.comb += [
            # a waiting output word stalls the input only at a completion
            self.i.ready.eq(~(out_valid & completes)),
            self.o.valid.eq(out_valid),
            self.o.payload.eq(out),
            put.eq(self.i.valid & self.i.ready),
        ]
        with m.If(put):
            m.d.sync += [held.eq(assembled[IW:]), pos.eq(Mux(completes, 0, pos + 1))]
        with m.If(put & completes):
            m.d.sync += [out.eq(word), out_valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += out_valid.eq(0)

    def _deserialize_wide(self, m, in_mask, slices):
        """A wide output word (a whole frame for a gate network), assembled so that no clock enable
        is logic on the input handshake fanned out across the word (a 2,352-bit word missed 100 MHz
        through that path in a logic-gate network's build): an accepted word goes into an input
        register, and a one-hot position registers which slot it belongs to; in the next cycle that
        slot loads it (its clock enable a register); in the cycle after the last slot, the output
        register loads all the slots (its clock enable a register). Two more cycles of latency; one
        word per cycle as long as a word takes at least four input words."""
        IW = self._in_width
        slots = [Signal(IW, name=f"slot{k}") for k in range(slices)]
        word, hot = Signal(IW), Signal(slices, init=1)          # the accepted word; its slot, one-hot
        write = Signal(slices)                                    # registered: slot k loads ``word``
        last_written, full, out, out_valid = Signal(), Signal(), Signal(self._out_width), Signal()
        completes, put = Signal(), Signal()
        m.d.comb += [
            completes.eq(hot[-1]),
            # the output register must be free when the slots are full: a word on its way there (or
            # waiting in it) stalls the input at a completion
            self.i.ready.eq(~((out_valid | full | last_written) & completes)),
            put.eq(self.i.valid & self.i.ready),
            self.o.valid.eq(out_valid),
            self.o.payload.eq(out),
        ]
        m.d.sync += [write.eq(Mux(put, hot, 0)), last_written.eq(put & completes), full.eq(last_written)]
        with m.If(put):
            m.d.sync += [word.eq(self.i.payload & in_mask), hot.eq(hot.rotate_left(1))]
        for k, slot in enumerate(slots):
            with m.If(write[k]):
                m.d.sync += slot.eq(word)
        with m.If(full):
            m.d.sync += [out.eq(Cat(slots)), out_valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += out_valid.eq(0)

    def _shift_buffer(self, m, in_last, in_mask):
        """Any widths: a shift buffer in which vectors are packed contiguously."""
        IV, OV, IW, OW = self._vector_bits, self._out_vector_bits, self._in_width, self._out_width
        out_words = self.out_words
        last_in_bits = last_word_bits(IV, IW)     # real bits in the last input word
        last_out_bits = last_word_bits(OV, OW)    # real bits in the last output word
        capacity, unit = shift_buffer_geometry(IV, IW, OW, OV)   # every fill level is a multiple of unit

        buf = Signal(capacity)                      # valid bits are buf[:level], the rest zero
        units = Signal(range(capacity // unit + 1))  # the fill level, in units
        out_cnt = Signal(range(out_words))
        out_last = Signal()
        m.d.comb += out_last.eq(out_cnt == out_words - 1)

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
        offset = _times_constant(units, unit)
        merged = Signal(capacity)
        m.d.comb += merged.eq(buf | Mux(put, (self.i.payload & in_mask) << offset, 0))
        m.d.sync += buf.eq(Mux(take, Mux(out_last, merged >> last_out_bits, merged >> OW), merged))

        in_units = Mux(put, Mux(in_last, last_in_bits // unit, IW // unit), 0)
        out_units = Mux(take, Mux(out_last, last_out_bits // unit, OW // unit), 0)
        m.d.sync += units.eq(units + in_units - out_units)
        with m.If(take):
            m.d.sync += out_cnt.eq(Mux(out_last, 0, out_cnt + 1))


def _times_constant(value, factor):
    """``value * factor`` with the factor's power-of-two part as constant zero bits, so that a shift by
    the result has no stages for them."""
    zeros = (factor & -factor).bit_length() - 1
    odd = factor >> zeros
    scaled = value if odd == 1 else value * odd
    return Cat(Const(0, zeros), scaled) if zeros else scaled

"""Fixed-point stages (Bi-Real's real-valued feature maps): scores to fixed point by table, and sign."""

import numpy as np
from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..compiler import ops
# the ROM banking is the compiler's plan, which its cost model counts
from ..compiler.microarch import rom_bank_depth, rom_slices
from ..intmath import ceil_div, signed_width
from ._arith import lane_constants, signed_lanes
from ._checks import require_positive_ints
from ._output import buffered_output
from .registry import builds

__all__ = ["Requantize", "FixedSign"]


class Requantize(wiring.Component):
    """Map the integer scores of a binary layer to fixed-point values, one table per channel.

    A vector of ``M`` channels arrives as ``ceil(M / in_lanes)`` words of ``in_lanes`` signed scores
    (channel ``w * in_lanes + l`` is lane ``l`` of word ``w``; lanes past ``M`` in the last word are
    ignored) and leaves as ``ceil(M / lanes)`` words of ``lanes`` values (``lanes`` divides
    ``in_lanes``: each input word takes ``in_lanes / lanes`` cycles; lanes past ``M`` give 0). A score
    ``s`` of ``N`` inputs is ``2p - N``; the value is ``table[channel, p]``, a signed ``width``-bit
    integer (``width`` bits if given, at least the table's). Each output lane reads its own ROM of ``ceil(M / lanes) * (N + 1)`` words (block RAM or
    LUT RAM, as yosys chooses), so fewer lanes need fewer, fuller ROMs; one deeper than a block RAM
    is read in banks, each registered. One output word per cycle, three cycles of latency (five with
    banks); ``i.ready`` depends only on registers.

    Parameters
    ----------
    table : array of int, shape (M, N + 1)
    lanes : int, positive
    in_lanes : int, a multiple of ``lanes`` (default ``lanes``)
    width : int, optional
        Bits of an output value (default: the fewest that hold the table).

    Attributes
    ----------
    i : In(stream.Signature(data.ArrayLayout(signed(N.bit_length() + 1), in_lanes)))
    o : Out(stream.Signature(unsigned(lanes * width)))
    """

    def __init__(self, table, lanes, in_lanes=None, width=None):
        table = np.asarray(table)
        in_lanes = lanes if in_lanes is None else in_lanes
        # recorded first, so that __repr__ works if validation fails
        self._table, self._lanes, self._in_lanes = table, lanes, in_lanes
        require_positive_ints((int, np.integer), lanes=lanes, in_lanes=in_lanes)
        if in_lanes % lanes:
            raise ValueError(f"lanes ({lanes}) must divide in_lanes ({in_lanes})")
        if table.ndim != 2 or table.shape[1] < 2 or table.dtype.kind not in "iu":
            raise ValueError(f"table must be an integer array of shape (M, N + 1), not {table.shape}")
        self._table, self._lanes, self._in_lanes = table.astype(np.int64), int(lanes), int(in_lanes)
        needed = signed_width(self._table.min(), self._table.max())
        if width is not None and (not isinstance(width, int) or width < needed):
            raise ValueError(f"width must be an integer of at least {needed} bits (the table's), not {width!r}")
        self._width = needed if width is None else width
        self._words = ceil_div(table.shape[0], self._lanes)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(self.inputs.bit_length() + 1), self._in_lanes))),
            "o": Out(stream.Signature(unsigned(self._lanes * self.width))),
        })

    @property
    def inputs(self):
        """``N``, the inputs of the layer whose scores it takes."""
        return self._table.shape[1] - 1

    @property
    def width(self):
        """Signed bits of an output value."""
        return self._width

    def __repr__(self):
        return (f"Requantize(table={'x'.join(map(str, self._table.shape))}, lanes={self._lanes}, "
                f"in_lanes={self._in_lanes})")

    def rom(self, lane):
        """The ROM words of output ``lane``: ``table[word * lanes + lane, p]`` at ``word * (N + 1) + p``
        (as unsigned ``width``-bit words; 0 past the last channel)."""
        m, n1 = self._table.shape
        mask = (1 << self.width) - 1
        words = []
        for w in range(self._words):
            c = w * self._lanes + lane
            words += [int(v) & mask for v in self._table[c]] if c < m else [0] * n1
        return words

    def elaborate(self, platform):
        m = Module()
        lanes, n, channels = self._lanes, self.inputs, self._table.shape[0]
        parts = self._in_lanes // lanes                       # output words per input word
        in_words = ceil_div(channels, self._in_lanes)
        last_parts = ceil_div(channels - (in_words - 1) * self._in_lanes, lanes)  # in the last input word
        valid, payload, adv = buffered_output(m, self.o)

        # stage 1: each lane's ROM address, ``output word * (N + 1) + p``; stage 2: the ROM's output
        # register. A ROM deeper than one block RAM is split into banks of ``rom_bank_depth`` words
        # (bank = the address's top bits); stage 3 registers every bank's word and stage 4 picks one,
        # so the block RAMs' 5.6 ns clock-to-output never meets a multiplexer in the same cycle.
        # Last, the result register (before the output FIFO).
        depth = self._words * (n + 1)
        # a deep table is built from bit slices, each banked at its own width's block depth
        slices = rom_slices(self.width, depth)
        bank_bits = [min(rom_bank_depth(w), 1 << (depth - 1).bit_length()).bit_length() - 1 for w in slices]
        banks = [ceil_div(depth, 1 << b) for b in bank_bits]
        word, part, base = Signal(range(in_words)), Signal(range(parts)), Signal(range(depth))
        last_word = word == in_words - 1
        last_part = Mux(last_word, part == last_parts - 1, part == parts - 1)
        flags = [Signal(name=f"valid{k}") for k in range(2 if max(banks) == 1 else 3)]  # address, read, banked
        m.d.comb += self.i.ready.eq(adv & last_part)
        with m.If(adv):
            m.d.sync += [flags[0].eq(self.i.valid), valid.eq(flags[-1])]
            m.d.sync += [later.eq(earlier) for earlier, later in zip(flags, flags[1:])]
            with m.If(self.i.valid):
                m.d.sync += [part.eq(Mux(last_part, 0, part + 1)),
                             base.eq(Mux(last_part & last_word, 0, base + n + 1))]
                with m.If(last_part):
                    m.d.sync += word.eq(Mux(last_word, 0, word + 1))
        outputs = []
        for lane in range(lanes):
            addr = Signal(range(depth), name=f"addr{lane}")
            score = Array(self.i.payload[k * lanes + lane] for k in range(parts))[part]
            with m.If(adv):
                # (s + N) / 2 is exact: a score has the parity of N
                m.d.sync += addr.eq(base + (score + n)[1:])
            words = self.rom(lane)
            lo = 0
            for k, (sw, bb, nb) in enumerate(zip(slices, bank_bits, banks)):
                suffix = "" if len(slices) == 1 else f"s{k}"
                bits = [(w >> lo) & ((1 << sw) - 1) for w in words]
                outputs.append(self._banked_rom(m, adv, addr, bits, sw, bb, nb, max(banks) > 1, f"{lane}{suffix}"))
                lo += sw
        with m.If(adv):
            m.d.sync += payload.eq(Cat(outputs))
        return m

    def _banked_rom(self, m, adv, addr, words, width, bank_bits, banks, staged, name):
        """A ROM of ``words`` (``width`` bits) read at ``addr``: one memory, or ``banks`` of
        ``2**bank_bits`` words whose outputs are registered and then picked by the address's top bits
        (also with one bank when ``staged``, so that every slice has the same latency)."""
        ports = []
        for b in range(banks):
            init = words[b << bank_bits:(b + 1) << bank_bits]
            rom = Memory(shape=unsigned(width), depth=len(init), init=init)
            m.submodules[f"rom{name}" if banks == 1 else f"rom{name}_{b}"] = rom
            port = rom.read_port()
            m.d.comb += [port.en.eq(adv), port.addr.eq(addr[:bank_bits])]
            ports.append(port.data)
        if not staged:
            return ports[0]
        bank = [Signal(range(banks), name=f"bank{name}_{k}") for k in range(2)]
        data = [Signal(width, name=f"data{name}_{b}", reset_less=True) for b in range(banks)]
        with m.If(adv):
            m.d.sync += [bank[0].eq(addr[bank_bits:]), bank[1].eq(bank[0])]
            m.d.sync += [d.eq(q) for d, q in zip(data, ports)]
        return Array(data)[bank[1]]


class FixedSign(wiring.Component):
    """The sign bits of ``channels`` signed ``width``-bit values per word: bit ``l`` is 1 (+1) where
    value ``l`` is ``>= 0`` (its top bit is 0), or ``>= thresholds[c]`` for its channel ``c``. With
    thresholds a vector of ``len(thresholds)`` channels arrives as ``ceil(len / channels)`` words
    (channel ``w * channels + l`` is lane ``l`` of word ``w``; lanes past the last channel give 0).
    One word per cycle, registered.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(channels * width)))
    o : Out(stream.Signature(unsigned(channels)))
    """

    def __init__(self, channels, width, thresholds=None):
        # recorded first, so that __repr__ works if validation fails
        self._channels, self._width, self._thresholds = channels, width, None
        require_positive_ints(channels=channels, width=width)
        self._thresholds = None if thresholds is None else np.asarray(thresholds, np.int64).ravel()
        if self._thresholds is not None:
            lo, hi = -(1 << (width - 1)), 1 << (width - 1)
            if not self._thresholds.size or self._thresholds.min() < lo or self._thresholds.max() > hi:
                raise ValueError(f"thresholds must be integers in {lo}..{hi} ({width}-bit values, {hi}: never), "
                                 f"not {self._thresholds}")
        super().__init__({
            "i": In(stream.Signature(unsigned(channels * width))),
            "o": Out(stream.Signature(unsigned(channels))),
        })

    def __repr__(self):
        more = "" if self._thresholds is None else f", thresholds={self._thresholds.size}"
        return f"FixedSign(channels={self._channels}, width={self._width}{more})"

    def elaborate(self, platform):
        m = Module()
        w, lanes = self._width, self._channels
        valid, payload, adv = buffered_output(m, self.o)
        m.d.comb += self.i.ready.eq(adv)
        values = signed_lanes(self.i.payload, w, lanes)
        if self._thresholds is None:
            bits = [v >= 0 for v in values]
        else:
            words, word = ceil_div(self._thresholds.size, lanes), None
            if words > 1:
                word = Signal(range(words))
                with m.If(adv & self.i.valid):
                    m.d.sync += word.eq(Mux(word == words - 1, 0, word + 1))
            # past the last channel: never
            thresholds = lane_constants(self._thresholds, lanes, word, fill=1 << (w - 1))
            bits = [v >= t for v, t in zip(values, thresholds)]
        with m.If(adv):
            m.d.sync += [valid.eq(self.i.valid), payload.eq(Cat(bits))]
        return m


@builds(ops.Requantize)
def _requantize(op, in_type, fold):
    return Requantize(op.table, lanes=fold.pe, in_lanes=fold.simd, width=op.width)


@builds(ops.FixedSign)
def _fixed_sign(op, in_type, fold):
    """With thresholds, or where the lanes do not divide the channels the plain sign as thresholds
    of 0, so that the lanes past the last channel give 0."""
    channels = in_type.shape[-1]
    thresholds = op.thresholds
    if thresholds is None and channels % fold.pe:
        thresholds = np.zeros(channels, np.int64)
    return FixedSign(fold.pe, in_type.width, thresholds)

"""Fixed-point joins beyond Bi-Real's sum: BNext's Info-Recoupling mix, ELM-attention product and
squeeze-and-excitation's per-channel scaling.

All are joins of a :class:`~bnn_hw.hdl.ForkJoin` (ports ``a``: the body's values, ``b``: the
shortcut's), ``lanes`` values per word; the mix and the product are :class:`~bnn_hw.hdl.LaneJoin` joins, as
:class:`~bnn_hw.hdl.AddJoin` is.
"""

import operator

from amaranth.hdl import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ..intmath import ceil_div
from ._arith import lane_constants, signed_lanes, times_constant
from ._checks import require_positive_ints
from ._output import buffered_output
from .fork_join import LaneJoin
from .registry import builds

__all__ = ["MixJoin", "ProductJoin", "ChannelProductJoin"]


class MixJoin(LaneJoin):
    """``2**frac * a + m[c] * (b - a)`` per lane, ``m[c]`` the constant of the lane's channel ``c``: a
    vector of ``len(weights)`` channels arrives in ``ceil(len / lanes)`` words (channel
    ``w * lanes + l`` in lane ``l`` of word ``w``). With one word per vector each lane multiplies by
    its constant in shifts and adds; past that by the word's constant.

    Attributes
    ----------
    a : In(stream.Signature(unsigned(lanes * a_width)))
    b : In(stream.Signature(unsigned(lanes * b_width)))
    o : Out(stream.Signature(unsigned(lanes * o_width)))
    """

    def __init__(self, lanes, a_width, b_width, o_width, weights, frac):
        self._weights, self._frac = [int(w) for w in weights], frac
        require_positive_ints(frac=frac)
        if not self._weights or min(self._weights) < 0 or max(self._weights) > 1 << frac:
            raise ValueError(f"weights must be integers in 0..{1 << frac}, not {self._weights}")
        super().__init__(lanes, a_width, b_width, o_width, ceil_div(len(self._weights), lanes))

    def __repr__(self):
        a, b, o = self._widths
        return (f"MixJoin(lanes={self._lanes}, a_width={a}, b_width={b}, o_width={o}, "
                f"weights={len(self._weights)}, frac={self._frac})")

    #: the scaled body value, the difference and the word's constant are registered before the
    #: multiplication (in one cycle the subtraction, the multiplication and the addition took
    #: 10.3 ns on the ECP5), and the product before the sum: a product in a MULT18X18D then goes
    #: into flip-flops alone, which the build moves into the block's output register (the mix's
    #: route to the block, its multiplication and the sum after it took 10.87 ns in one cycle)
    extra_stages = 2

    def combine(self, a, b, word, register):
        values = []
        for (x, y), k in zip(self.lane_pairs(a, b), lane_constants(self._weights, self._lanes, word)):
            scaled, difference = register(x << self._frac), register(y - x)
            product = times_constant(difference, k) if isinstance(k, int) else difference * register(k)
            values.append(register(scaled) + register(product))
        return self.results(values)


class ProductJoin(LaneJoin):
    """``a * b`` per lane, signed; ports as :class:`~bnn_hw.hdl.LaneJoin`'s."""

    lane_operation = operator.mul


@builds(ops.Mix)
def _mix(op, body_bits, shortcut_bits, fold):
    """``fold.pe`` mixes of the body's and the shortcut's values, ``frac`` bits wider than the wider."""
    a, b = body_bits // fold.pe, shortcut_bits // fold.pe
    return MixJoin(fold.pe, a, b, max(a, b) + op.frac, op.weights, op.frac)


@builds(ops.Product)
def _product(op, body_bits, shortcut_bits, fold):
    """``fold.pe`` products of the body's and the shortcut's values."""
    a, b = body_bits // fold.pe, shortcut_bits // fold.pe
    return ProductJoin(fold.pe, a, b, a + b)


class ChannelProductJoin(wiring.Component):
    """Squeeze-and-excitation's scaling: each frame, ``ceil(channels / lanes)`` words of gates from
    ``a`` (one signed ``a_width``-bit value per channel, kept in registers), then ``pixels`` pixels of
    as many words from ``b``, whose lane ``l`` of word ``w`` is multiplied by the gate of channel
    ``w * lanes + l`` into ``o`` (``o_width`` bits per lane, wrapping). One word per cycle.

    Attributes
    ----------
    a : In(stream.Signature(unsigned(lanes * a_width)))
    b : In(stream.Signature(unsigned(lanes * b_width)))
    o : Out(stream.Signature(unsigned(lanes * o_width)))
    """

    def __init__(self, lanes, channels, pixels, a_width, b_width, o_width):
        # recorded first, so that __repr__ works if validation fails
        self._lanes, self._channels, self._pixels = lanes, channels, pixels
        self._widths = (a_width, b_width, o_width)
        require_positive_ints(lanes=lanes, channels=channels, pixels=pixels, a_width=a_width, b_width=b_width,
                              o_width=o_width)
        super().__init__({
            "a": In(stream.Signature(unsigned(lanes * a_width))),
            "b": In(stream.Signature(unsigned(lanes * b_width))),
            "o": Out(stream.Signature(unsigned(lanes * o_width))),
        })

    def __repr__(self):
        a, b, o = self._widths
        return (f"ChannelProductJoin(lanes={self._lanes}, channels={self._channels}, pixels={self._pixels}, "
                f"a_width={a}, b_width={b}, o_width={o})")

    def elaborate(self, platform):
        m = Module()
        lanes, (wa, wb, wo) = self._lanes, self._widths
        words = ceil_div(self._channels, lanes)
        valid, payload, adv = buffered_output(m, self.o)
        gates = [Signal(lanes * wa, name=f"gate{k}", reset_less=True) for k in range(words)]
        loaded = Signal(range(words + 1))          # gate words taken this frame
        pixel, word = Signal(range(self._pixels)), Signal(range(words))
        scaling = loaded == words
        m.d.comb += [self.a.ready.eq(~scaling), self.b.ready.eq(scaling & adv)]
        with m.If(self.a.valid & self.a.ready):
            m.d.sync += [gates[k].eq(Mux(loaded == k, self.a.payload, gates[k])) for k in range(words)]
            m.d.sync += loaded.eq(loaded + 1)
        gate = Array(gates)[word]
        products = Cat((x * g)[:wo] for x, g in zip(signed_lanes(self.b.payload, wb, lanes), signed_lanes(gate, wa, lanes)))
        taken = self.b.valid & self.b.ready
        with m.If(adv):
            m.d.sync += [valid.eq(taken), payload.eq(products)]
        with m.If(taken):
            m.d.sync += word.eq(Mux(word == words - 1, 0, word + 1))
            with m.If(word == words - 1):
                m.d.sync += pixel.eq(Mux(pixel == self._pixels - 1, 0, pixel + 1))
                with m.If(pixel == self._pixels - 1):
                    m.d.sync += loaded.eq(0)
        return m


@builds(ops.ChannelProduct)
def _channel_product(op, body_bits, shortcut_bits, fold):
    """``fold.pe`` multipliers of the shortcut's values by their channels' gates."""
    a, b = body_bits // fold.pe, shortcut_bits // fold.pe
    return ChannelProductJoin(fold.pe, op.channels, op.pixels, a, b, a + b)

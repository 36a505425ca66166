"""A fixed permutation of a word's bits (a channel shuffle): wiring only, no logic."""

from amaranth.hdl import Cat, Module, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from .registry import builds

__all__ = ["Permute"]


class Permute(wiring.Component):
    """``o`` bit ``k`` is ``i`` bit ``order[k]``, word for word; valid and ready pass straight through.

    Parameters
    ----------
    order : sequence of int, a permutation of ``range(len(order))``

    Attributes
    ----------
    i : In(stream.Signature(unsigned(len(order))))
    o : Out(stream.Signature(unsigned(len(order))))
    """

    def __init__(self, order):
        order = tuple(int(k) for k in order)
        if not order or sorted(order) != list(range(len(order))):
            raise ValueError(f"order must be a permutation of 0..n-1, not {order!r}")
        self._order = order
        super().__init__({
            "i": In(stream.Signature(unsigned(len(order)))),
            "o": Out(stream.Signature(unsigned(len(order)))),
        })

    def __repr__(self):
        return f"Permute(width={len(self._order)})"

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.i.ready.eq(self.o.ready),
            self.o.payload.eq(Cat(self.i.payload[k] for k in self._order)),
        ]
        return m


@builds(ops.ChannelShuffle)
def _channel_shuffle(op, in_type, fold):
    """Wiring: each vector's bits in the shuffled order."""
    return Permute(op.bit_order(in_type))

"""Thermometer encoding of 8-bit pixels into bits (the binary input of the first layer)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ..intmath import ceil_div
from ._checks import require_positive_ints
from .registry import builds

__all__ = ["ThermometerEncoder"]


class ThermometerEncoder(wiring.Component):
    """Turn 8-bit pixels into thermometer codes against fixed thresholds.

    An image of ``features`` pixels arrives as ``ceil(features / lanes)`` words of ``lanes``
    pixels (pixel ``w * lanes + p`` is lane ``p`` of word ``w``); the pad lanes of the last word
    are ignored. Each input word gives one output word of ``lanes * K`` bits
    (``K = len(thresholds)``): bit ``p * K + j`` is 1 iff pixel ``p >= thresholds[j]``. Pad lanes
    of the last word of each image output zero bits.

    The output is registered (one cycle of latency, one word per cycle); ``i.ready`` is
    ``~o.valid | o.ready``.

    Parameters
    ----------
    features : int
        Pixels per image, at least 1.
    thresholds : sequence of int
        Strictly increasing, each in ``1..255``; at least one.
    lanes : int
        Pixels per input word, at least 1.

    Attributes
    ----------
    i : In(stream.Signature(data.ArrayLayout(unsigned(8), lanes)))
    o : Out(stream.Signature(unsigned(lanes * len(thresholds))))
    """

    def __init__(self, features, thresholds, lanes):
        self._features = features
        self._thresholds = thresholds
        self._lanes = lanes
        require_positive_ints(features=features, lanes=lanes)
        try:
            thresholds = tuple(thresholds)
            if any(int(t) != t for t in thresholds):
                raise TypeError
            thresholds = tuple(int(t) for t in thresholds)
        except (TypeError, ValueError):
            raise ValueError(f"thresholds must be a sequence of integers, not {self._thresholds!r}")
        self._thresholds = thresholds
        if not thresholds:
            raise ValueError("thresholds must not be empty")
        if any(not 1 <= t <= 255 for t in thresholds):
            raise ValueError(f"thresholds must lie in 1..255, not {thresholds!r}")
        if any(a >= b for a, b in zip(thresholds, thresholds[1:])):
            raise ValueError(f"thresholds must be strictly increasing, not {thresholds!r}")
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(unsigned(8), lanes))),
            "o": Out(stream.Signature(unsigned(lanes * len(thresholds)))),
        })

    @property
    def features(self):
        return self._features

    @property
    def thresholds(self):
        return self._thresholds

    @property
    def lanes(self):
        return self._lanes

    @property
    def words(self):
        """Words per image (the same on input and output)."""
        return ceil_div(self._features, self._lanes)

    def __repr__(self):
        return (f"ThermometerEncoder(features={self._features}, "
                f"thresholds={self._thresholds!r}, lanes={self._lanes})")

    def elaborate(self, platform):
        m = Module()

        lanes, K, words = self._lanes, len(self._thresholds), self.words
        last_lanes = self._features - (words - 1) * lanes   # real pixels in the last word

        count = Signal(range(words))
        last = Signal()
        m.d.comb += last.eq(count == words - 1)

        code = []
        for p in range(lanes):
            pixel = self.i.payload[p]
            bits = Cat(pixel >= t for t in self._thresholds)
            if p >= last_lanes:
                bits = Mux(last, Const(0, K), bits)
            code.append(bits)

        adv = Signal()
        m.d.comb += [
            adv.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(adv),
        ]
        with m.If(adv):
            m.d.sync += self.o.valid.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += [
                    self.o.payload.eq(Cat(code)),
                    count.eq(Mux(last, 0, count + 1)),
                ]
        return m


@builds(ops.Thermometer)
def _thermometer(op, in_type, fold):
    return ThermometerEncoder(in_type.size, op.thresholds, lanes=fold.simd)

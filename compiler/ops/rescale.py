"""Rescale: a :class:`bnn_hw.nn.FixedPoint` applied to a value that is already fixed point (after a
shortcut join, whose grid is finer or whose range is wider than the next block wants).

PyTorch holds the value ``k / 2**in_frac`` exactly, multiplies it by ``2**frac`` (exact: a power of
two) and rounds half to even, then clamps to the layer's range. On the integers that is a shift by
``d = in_frac - frac`` bits with round-half-to-even and a clamp, which :meth:`Rescale.reference`
computes and the hardware builds; a finer grid (``d < 0``) is a left shift, exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ._vectors import LaneStream
from .fixed_point import integers

__all__ = ["Rescale", "round_shift"]


def round_shift(k: np.ndarray, shift: int) -> np.ndarray:
    """``k * 2**-shift`` rounded half to even (``torch.round`` of the exact value), for integers ``k``."""
    k = integers(k)
    if shift <= 0:
        return k << -shift
    q = k >> shift                        # floor
    r = k - (q << shift)                  # 0 .. 2**shift - 1
    half = 1 << (shift - 1)
    return q + ((r > half) | ((r == half) & (q & 1 == 1)))


@dataclass(frozen=True)
class Rescale(LaneStream):
    """A fixed-point value with ``in_frac`` fraction bits to ``width``-bit integers with ``frac``:
    ``clamp(round(k * 2**(frac - in_frac)), -2**(width-1), 2**(width-1) - 1)``, rounding half to even.
    In hardware ``fold.pe`` values per word, each a shift, a rounding increment and a clamp."""

    in_frac: int
    frac: int
    width: int

    def __post_init__(self):
        from ...nn import FixedPoint
        FixedPoint(self.frac, self.width)   # the layer's argument checks
        if not isinstance(self.in_frac, int) or self.in_frac < 0:
            raise ValueError(f"in_frac must be a non-negative integer, not {self.in_frac!r}")

    def __repr__(self):
        return f"Rescale(.{self.in_frac} -> int{self.width}.{self.frac})"

    @property
    def shift(self) -> int:
        """Bits the integers shift right (negative: left)."""
        return self.in_frac - self.frac

    @property
    def range(self) -> tuple[int, int]:
        return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT:
            raise ValueError(f"rounds fixed-point values, got {x}")
        if x.frac != self.in_frac:
            raise ValueError(f"takes values with {self.in_frac} fraction bits, got {x}")
        return TensorType(x.shape, Kind.INT, self.width, self.frac)

    def reference(self, x):
        return np.clip(round_shift(x, self.shift), *self.range)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        return fold.pe * in_type.width, fold.pe * self.width

    def traffic(self, in_type, fold):
        """A rounding addition and a clamp (two comparisons) per value."""
        from ..energy import Traffic
        return Traffic(int_ops=3 * in_type.size)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """Per lane the rounding adder and the clamp's two comparisons and multiplexer (carry chains
        and LUTs about the input's width each); the registered output."""
        w = max(in_type.width - max(self.shift, 0), 1) + max(-self.shift, 0)
        return Cost(cycles=self.cycles(in_type, fold), lut4=fold.pe * (3 * w + self.width) + 12,
                    ff=fold.pe * self.width + 8)

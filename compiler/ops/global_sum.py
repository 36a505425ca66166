"""GlobalSum: each channel's sum over a fixed-point image (:class:`bnn_hw.nn.GlobalSumPool`), the
squeeze of squeeze-and-excitation.

The sum of ``H * W`` values on a grid is an integer on the same grid, ``ceil(log2(H * W))`` bits
wider; PyTorch's float32 sum is exact while it stays below ``2**24`` steps, which the type checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ._vectors import LaneStream, vectors
from .base import ceil_div, lowers
from .fixed_point import FLOAT32_EXACT_BITS, integers

__all__ = ["GlobalSum"]


@dataclass(frozen=True)
class GlobalSum(LaneStream):
    """``(H, W, C)`` fixed-point values to their ``(1, 1, C)`` sums over the image. In hardware
    ``fold.pe`` values per word into as many accumulators per word of a pixel; the sums leave with
    the frame's last pixel (:class:`~bnn_hw.hdl.GlobalSum`)."""

    def __repr__(self):
        return "GlobalSum()"

    @staticmethod
    def extra_bits(in_type) -> int:
        """Bits the sum of a channel's ``H * W`` values adds."""
        return (vectors(in_type) - 1).bit_length()

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT or len(x.shape) != 3:
            raise ValueError(f"sums a fixed-point image (a FixedPoint makes one), got {x}")
        width = x.width + self.extra_bits(x)
        if width > FLOAT32_EXACT_BITS:
            raise ValueError(f"the sums need {width} bits, more than float32 holds exactly; use fewer bits in the "
                             f"FixedPoint before it")
        return TensorType((1, 1, x.shape[2]), Kind.INT, width, x.frac)

    def reference(self, x):
        return integers(x).sum(axis=(1, 2), keepdims=True)

    def inputs_needed(self, in_type, n: int) -> int:
        """A frame's sums need all its pixels."""
        return n * vectors(in_type)

    def inputs_accepted(self, in_type, n: int) -> int:
        """While its sums wait, it goes on summing the next frame (up to its last pixel)."""
        return (n + 1) * vectors(in_type) - 1

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``pe`` values in, ``pe`` sums out."""
        return fold.pe * in_type.width, fold.pe * (in_type.width + self.extra_bits(in_type))

    def traffic(self, in_type, fold):
        """One addition per value (the accumulators are registers)."""
        from ..energy import Traffic
        return Traffic(int_ops=in_type.size)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """An accumulator register per channel (a rotating register file, a word per cycle); per sum
        bit an adder bit and the multiplexers of the rotation and the output (about five LUT4); the
        counters and the registered output."""
        words = ceil_div(in_type.shape[2], fold.pe)
        sum_bits = self.word_bits(in_type, fold)[1]
        return Cost(cycles=self.cycles(in_type, fold), lut4=5 * sum_bits + 30,
                    ff=words * sum_bits + sum_bits + 40)


@lowers(bnn.GlobalSumPool)
def _lower(layer, ctx):
    return [ctx.node("globalsum", GlobalSum())]

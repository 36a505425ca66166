"""FixedDense: a fully connected layer with multi-bit integer weights on +-1 inputs (BNext's 8-bit
last layer, :class:`bnn_hw.nn.FixedPointLinear`).

For input bits ``x`` (N, bit 1 is +1) and integer weights ``W`` (M, N) the output is the integer
score ``sum_n W[m, n] * (2 x[n] - 1)`` per channel: exactly what PyTorch computes on the +-1 values
(integers below 2**24). In hardware it is the multiply-accumulate matrix-vector unit of
:class:`~.fixed_conv.FixedConv`, whose elements are the inputs as 2-bit two's complement values
(+1 is ``01``, -1 is ``11``: wiring) and whose weights are bit planes. It gives the network's scores:
a chain after it (BatchNorm, sign) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ...errors import UnsupportedModelError
from ..ir import Kind, TensorType
from .base import lowers
from .binary_dense import streamed_columns
from .fixed_conv import FixedConv

__all__ = ["FixedDense"]


@dataclass(frozen=True, eq=False)
class FixedDense(FixedConv):
    """A :class:`~.fixed_conv.FixedConv` on a vector of bits: integer weights ``(M, N)`` times the
    +-1 inputs, integer scores."""

    weight_frac: int = 0
    in_frac: int = 0
    sums: bool = True

    def __repr__(self):
        return f"FixedDense({self.out_channels}x{self.in_channels}, int{self.weight_bits})"

    #: +-1 elements need no multipliers
    multiplies = False

    def element_width(self, in_type) -> int:
        """Each input bit is a 2-bit two's complement +-1 in the multiply-accumulate."""
        return 2

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.BITS or x.size != self.in_channels:
            raise ValueError(f"takes {self.in_channels} bits (+-1 values), got {x}")
        return TensorType((self.out_channels,), Kind.INT, self.sum_width(x))

    # After a Flatten its input is a whole image of bits, which it takes as one vector (its columns
    # are in the stream's order, :func:`~.binary_dense.streamed_columns`): every geometry method of
    # the 1x1 convolution it is sees that vector.

    def vectors_per_frame(self, in_type) -> int:
        return 1

    def in_vector_bits(self, in_type) -> int:
        return in_type.bits

    def cycles(self, in_type, fold) -> int:
        return super().cycles(_flat(in_type), fold)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        return super().word_bits(_flat(in_type), fold)

    def traffic(self, in_type, fold):
        return super().traffic(_flat(in_type), fold)

    def cost(self, in_type, fold, block_ram):
        return super().cost(_flat(in_type), fold, block_ram)

    def integer_sums(self, x: np.ndarray) -> np.ndarray:
        """The scores of a batch of inputs, each flattened channels-last as it streams."""
        x = np.asarray(x, np.int64)
        return (2 * x.reshape(len(x), -1) - 1) @ self.weights.T

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.integer_sums(x)

    def fold_chain(self, in_type, chain, name):
        if chain:
            raise UnsupportedModelError(f"{name}: a FixedPointLinear gives the network's integer scores; bnn-hw "
                                        f"does not fold a BatchNorm or sign after it (use a BinaryLinear there)")
        return None


def _flat(value_type: TensorType) -> TensorType:
    """A bit value as one vector."""
    return TensorType((value_type.size,), value_type.kind, value_type.width)


@lowers(bnn.FixedPointLinear)
def _lower(layer, ctx):
    if ctx.in_type.kind is not Kind.BITS:
        raise ctx.error(f"takes +-1 values (after a Sign), got {ctx.in_type}")
    weights = np.rint(layer.integer_weight().detach().cpu().numpy()).astype(np.int64)
    return [ctx.node("dense", FixedDense(streamed_columns(weights, ctx, "FixedPointLinear")))]

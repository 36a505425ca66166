"""ChannelShuffle: ShuffleNet's channel shuffle of bits, ``groups`` x ``C / groups`` transposed.

Output channel ``i * groups + g`` is input channel ``g * (C / groups) + i`` (PyTorch's
``x.view(B, groups, C // groups, ...).transpose(1, 2)``). After a K-slice
:class:`~bnn_hw.nn.MultiSliceSign` of C channels (channel ``c * K + j``), a shuffle with
``groups = C`` puts the slices first (channel ``j * C + c``), so that a convolution with ``groups =
K`` sees one slice per group: BoolNet's multi-slice grouped convolution. In hardware a wiring-only
:class:`~bnn_hw.hdl.Permute` of each pixel (or vector).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind
from ._vectors import WholeVectors, vector_bits
from .base import lowers

__all__ = ["ChannelShuffle"]


@dataclass(frozen=True)
class ChannelShuffle(WholeVectors):
    groups: int

    def __post_init__(self):
        if not isinstance(self.groups, int) or self.groups < 1:
            raise ValueError(f"groups must be a positive integer, not {self.groups!r}")

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.BITS:
            raise ValueError(f"shuffles bits, got {x}")
        if x.shape[-1] % self.groups:
            raise ValueError(f"groups={self.groups} must divide the {x.shape[-1]} channels")
        return x

    def order(self, channels: int) -> np.ndarray:
        """The input channel of each output channel."""
        return np.arange(channels).reshape(self.groups, -1).T.reshape(-1)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return x[..., self.order(x.shape[-1])]

    def bit_order(self, in_type) -> list[int]:
        """The input bit of each output bit of one streamed vector (its pixels' channels in turn): the
        wiring of the hardware's :class:`~bnn_hw.hdl.Permute`."""
        channels = in_type.shape[-1]
        order = self.order(channels)
        return [p * channels + int(c) for p in range(vector_bits(in_type) // channels) for c in order]

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        return Cost(cycles=self.cycles(in_type, fold))   # wires

    def traffic(self, in_type, fold):
        from ..energy import Traffic
        return Traffic()


@lowers(bnn.ChannelShuffle)
def _lower(layer, ctx):
    return [ctx.node("shuffle", ChannelShuffle(layer.groups))]

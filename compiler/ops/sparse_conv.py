"""SparseConv2d: a 2-D convolution with weights in a two-value domain ``{alpha, beta}`` on bit images.

Each output pixel is a :class:`~.sparse_dense.SparseDense` product of its window (kernel x kernel x
channels, flattened channels-last as a :class:`~.binary_conv.BinaryConv2d` window): the window's
popcount, shared by the channels, and each channel's popcount of its beta positions. The border
holds a binary value (pad bit), so every window is whole and there is one threshold table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import cached_property

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from .base import lowers
from .binary_conv import BinaryConv2d, conv_weights
from .sparse_dense import SparseDense, sparse_domain, with_unit

__all__ = ["SparseConv2d"]


@dataclass(frozen=True, eq=False)
class SparseConv2d(BinaryConv2d):
    """``weights`` are the mask (1 where the weight is ``beta``); ``thresholds`` (1, M, K) are on the
    score, with ``invert`` (M) as :class:`~.sparse_dense.SparseDense` has them."""

    alpha: int = -1
    beta: int = 1
    invert: np.ndarray | None = None

    layer_name = "SparseBinaryConv2d"
    ordered_thresholds = False
    unrolls = True

    def __post_init__(self):
        super().__post_init__()
        if self.groups != 1 or self.pad_value == 0 or self.replicate:
            raise ValueError("a sparse convolution has one group and pads with -1 or +1")
        # the checks of the values, thresholds and invert flags
        object.__setattr__(self, "invert", self.dense.invert)

    @cached_property
    def dense(self) -> SparseDense:
        """The product of one window: its mask flattened (kh, kw, C), the values, the thresholds."""
        t = None if self.thresholds is None else self.thresholds[0]
        return SparseDense(self.weights.reshape(self.out_channels, -1), self.alpha, self.beta, t, self.invert)

    @property
    def score_width(self) -> int:
        return self.dense.score_width

    def __repr__(self):
        return super().__repr__().replace("BinaryConv2d(", "SparseConv2d(", 1).replace(
            ",", f", alpha={self.alpha}, beta={self.beta}, {self.dense.connections} beta weights,", 1)

    def reference(self, x: np.ndarray) -> np.ndarray:
        windows = self.windows(np.asarray(x, np.uint8))           # (B, Ho, Wo, kh, kw, C)
        rows = windows.reshape(-1, self.window_bits)
        out = self.dense.reference(rows)
        return out.reshape(windows.shape[:3] + (-1,))

    def fold_chain(self, in_type, chain, name):
        """As :meth:`SparseDense.fold_chain`, on every window."""
        if self.thresholds is not None or not chain:
            return None
        folded = self.dense.fold_chain(in_type, chain, name)
        if folded is None:
            return None
        dense = folded[0]
        return replace(self, thresholds=dense.thresholds[None], invert=dense.invert), None

    # -- hardware -------------------------------------------------------------------------------

    def memory_depth(self, in_type, fold) -> int:
        return 0 if self.is_unrolled(in_type, fold) else super().memory_depth(in_type, fold)

    def unit_cost(self, fold, block_ram: BlockRam) -> Cost:
        """The product of each window as :meth:`SparseDense.cost` (unrolled, or folded with the
        shared popcount)."""
        return self.dense.cost(TensorType((self.window_bits,), Kind.BITS), fold, block_ram)

    def traffic(self, in_type, fold):
        if not self.is_unrolled(in_type, fold):
            return super().traffic(in_type, fold)
        from ..energy import Traffic
        h, w, c = in_type.shape
        vectors = self.vectors_per_frame(in_type)
        line_buffer = h * w * c + vectors * self.kernel ** 2 * c
        window = TensorType((self.window_bits,), Kind.BITS)
        one = self.dense.traffic(window, fold)
        return Traffic(fmap_bits=line_buffer) + Traffic(**{k: v * vectors for k, v in asdict(one).items()})

    def details(self) -> dict:
        return self.dense.details()


@lowers(bnn.SparseBinaryConv2d)
def _lower(layer, ctx):
    mask, alpha, beta, unit = sparse_domain(layer, conv_weights(layer), ctx.error)
    op = SparseConv2d(mask, layer.stride, layer.padding, layer.pad_value, alpha=alpha, beta=beta)
    return with_unit("conv", op, unit, layer.out_channels, ctx)

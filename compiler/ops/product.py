"""Product: BNext's ELM-attention join, ``body * shortcut`` element by element
(:class:`bnn_hw.nn.ProductShortcut`).

The product of fixed-point values with ``f1`` and ``f2`` fraction bits is the product of their
integers on the grid of ``f1 + f2`` bits; ``w1 + w2`` bits hold it (the most negative times the
most negative included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from .base import lowers
from .fixed_point import FixedJoin

__all__ = ["Product"]


@dataclass(frozen=True)
class Product(FixedJoin):
    """``body * shortcut``, two fixed-point values of ``channels`` channels (any grids); exact."""

    channels: int

    verb = "multiplies"

    def __repr__(self):
        return f"Product({self.channels})"

    @property
    def out_channels(self) -> int:
        return self.channels

    def infer(self, inputs):
        body, shortcut = self.pair(inputs, same_frac=False)
        if body.shape[-1] != self.channels:
            raise ValueError(f"multiplies {self.channels} channels, got {body}")
        width = self.exact_width(body.width + shortcut.width, "product")
        return TensorType(body.shape, Kind.INT, width, body.frac + shortcut.frac)

    def reference(self, body, shortcut):
        return np.asarray(body).astype(np.int64) * np.asarray(shortcut).astype(np.int64)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``pe`` body values in, ``pe`` products out, each as wide as two body values (the
        shortcut's width is the block's: the join's hardware is given both)."""
        return fold.pe * in_type.width, fold.pe * 2 * in_type.width

    def traffic(self, in_type, fold):
        """A signed multiplication per value (as many additions as the body's bits); in a
        real-valued design a float32 multiply."""
        from ..energy import Traffic
        values = in_type.size
        return Traffic(int_ops=values * in_type.width, fixed_mults=values, fixed_mult_adds=values * in_type.width)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """Per lane a ``width x width`` multiplier in LUTs and carry chains (yosys may place it in a
        DSP block instead); the input pair's registers, the result register and its 3-word output
        FIFO (LUT RAM)."""
        out_bits = self.word_bits(in_type, fold)[1]
        return Cost(cycles=self.cycles(in_type, fold), lut4=fold.pe * in_type.width ** 2 + 2 * out_bits + 12,
                    ff=4 * out_bits + 8)


@lowers(bnn.ProductShortcut)
def _lower(layer, ctx):
    body, shortcut = ctx.shortcut_block()
    return [ctx.node("product", Product(ctx.types[body].shape[-1]), (body, shortcut))]

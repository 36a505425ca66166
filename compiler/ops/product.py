"""Product: BNext's ELM-attention join, ``body * shortcut`` element by element, and ChannelProduct,
squeeze-and-excitation's, where the body gives one value per channel for the whole image
(:class:`bnn_hw.nn.ProductShortcut`).

The product of fixed-point values with ``f1`` and ``f2`` fraction bits is the product of their
integers on the grid of ``f1 + f2`` bits; ``w1 + w2`` bits hold it (the most negative times the
most negative included).
"""

from __future__ import annotations

from dataclasses import dataclass

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ._vectors import vectors
from .base import ceil_div, lowers
from .fixed_point import FixedJoin, integers

__all__ = ["Product", "ChannelProduct"]


@dataclass(frozen=True)
class Product(FixedJoin):
    """``body * shortcut``, two fixed-point values of ``channels`` channels (any grids); exact."""

    channels: int

    verb = "multiplies"

    def __repr__(self):
        return f"Product({self.channels})"

    def infer(self, inputs):
        body, shortcut = self.pair(inputs, same_frac=False)
        if body.shape[-1] != self.channels:
            raise ValueError(f"multiplies {self.channels} channels, got {body}")
        width = self.exact_width(body.width + shortcut.width, "product")
        return TensorType(body.shape, Kind.INT, width, body.frac + shortcut.frac)

    def reference(self, body, shortcut):
        return integers(body) * integers(shortcut)

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


@dataclass(frozen=True)
class ChannelProduct(FixedJoin):
    """Squeeze-and-excitation's scaling: the shortcut's image of ``pixels`` pixels of ``channels``
    values, each times its channel's value from the body's one pixel (the gate), exact on the grid
    of both inputs' fraction bits.

    In hardware the join takes the frame's gates first (``ceil(channels / pe)`` words, kept in
    registers), then the frame's pixels from the shortcut FIFO, which holds two frames
    (:meth:`shortcut_vectors`): the gates come only after the body has seen the whole frame.
    """

    channels: int
    pixels: int

    verb = "scales"

    def __repr__(self):
        return f"ChannelProduct({self.channels}, {self.pixels} pixels)"

    def infer(self, inputs):
        body, shortcut = self.pair(inputs, same_frac=False, same_shape=False)
        if body.shape != (1, 1, self.channels) or len(shortcut.shape) != 3 or shortcut.shape[2] != self.channels \
                or shortcut.shape[0] * shortcut.shape[1] != self.pixels:
            raise ValueError(f"scales an image of {self.pixels} pixels by one value per channel ({self.channels}), "
                             f"got {body} for {shortcut}")
        width = self.exact_width(body.width + shortcut.width, "product")
        return TensorType(shortcut.shape, Kind.INT, width, body.frac + shortcut.frac)

    def reference(self, body, shortcut):
        return integers(shortcut) * integers(body)

    def vectors_per_frame(self, in_type) -> int:
        """The shortcut's pixels (the body gives one vector a frame)."""
        return self.pixels

    def shortcut_vectors(self, in_type) -> int:
        """Two frames: one while the body sums it, one the join works through meanwhile."""
        return 2 * self.pixels

    def cycles(self, in_type, fold) -> int:
        """The gates' words, then the pixels' words."""
        return (self.pixels + 1) * ceil_div(self.channels, fold.pe)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``pe`` gates in, ``pe`` products out (the shortcut's width is the block's)."""
        return fold.pe * in_type.width, fold.pe * 2 * in_type.width

    def traffic(self, in_type, fold):
        """A signed multiplication per value of the image; in a real-valued design a float32 multiply."""
        from ..energy import Traffic
        values = self.pixels * self.channels
        return Traffic(int_ops=values * in_type.width, fixed_mults=values, fixed_mult_adds=values * in_type.width)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """The gates' registers (a channel's gate chosen per word), a multiplier per lane as for
        :class:`Product`, counters and the registered output."""
        gate_bits = ceil_div(self.channels, fold.pe) * fold.pe * in_type.width
        out_bits = self.word_bits(in_type, fold)[1]
        select = fold.pe * in_type.width * ceil_div(ceil_div(self.channels, fold.pe), 4)
        return Cost(cycles=self.cycles(in_type, fold),
                    lut4=fold.pe * in_type.width ** 2 + select + 2 * out_bits + 40,
                    ff=gate_bits + 3 * out_bits + 40)


@lowers(bnn.ProductShortcut)
def _lower(layer, ctx):
    body, shortcut = ctx.shortcut_block()
    body_type, shortcut_type = ctx.types[body], ctx.types[shortcut]
    if body_type.shape == shortcut_type.shape or len(shortcut_type.shape) != 3 or body_type.shape[:2] != (1, 1):
        return [ctx.node("product", Product(body_type.shape[-1]), (body, shortcut))]
    if layer.branch is not None:
        raise ctx.error("squeeze-and-excitation (a body that pools to one pixel) takes no ShortcutBranch")
    return [ctx.node("excite", ChannelProduct(body_type.shape[-1], vectors(shortcut_type)), (body, shortcut))]

"""PixelConv2d: a first-layer convolution of 8-bit pixels with binary weights (integer accumulation).

Semantics, for an image ``x`` of shape (H, W, C) pixels ``0..255`` and weight bits ``w``
(M, k, k, C): each output is the exact integer ``dot = sum(x * (2 w - 1))`` over the window of the
zero-padded image (a padding pixel is 0 and adds nothing, so no correction is needed). The output is
either ``dot`` (before streamlining) or, with ``thresholds`` (1, M, K), bit ``m * K + j`` =
``dot >= thresholds[0, m, j]``. Windows, geometry and folding are those of :class:`BinaryConv2d`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ..microarch import line_buffer_rows
from .base import ceil_div, lowers
from .binary_conv import BinaryConv2d, conv_weights
from .binary_dense import scaled

__all__ = ["PixelConv2d"]

#: The largest pixel value.
PIXEL_MAX = 255


@dataclass(frozen=True, eq=False)
class PixelConv2d(BinaryConv2d):
    pad_value: int = 0

    sums_pixels = True

    def __post_init__(self):
        if self.pad_value != 0 or self.groups != 1:
            raise ValueError("PixelConv2d zero-pads and has no groups")
        super().__post_init__()

    def __repr__(self):
        return "PixelConv2d" + super().__repr__().removeprefix("BinaryConv2d")

    @property
    def dot_range(self) -> tuple[int, int]:
        """The values a channel's integer dot product can take."""
        return -PIXEL_MAX * self.window_bits, PIXEL_MAX * self.window_bits

    @property
    def score_width(self) -> int:
        """Signed width holding every sum of pixels times +-1."""
        return (PIXEL_MAX * self.window_bits).bit_length() + 1

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.UINT8 or len(x.shape) != 3:
            raise ValueError(f"takes an image of 8-bit pixels (height, width, channels), got {x}")
        bits = TensorType(x.shape, Kind.BITS)
        out = super().infer((bits,))
        if self.thresholds is None:
            return TensorType(out.shape, Kind.INT, self.score_width)
        return out

    def _requantizable(self, corrections) -> bool:
        return False

    def border_classes(self, height: int, width: int):
        """One class: zero padding adds nothing to an integer sum of pixels."""
        ho, wo = self.output_shape(height, width)
        return np.zeros((ho, wo), np.int64), np.zeros((1, self.out_channels), np.int64)

    def reference(self, x: np.ndarray) -> np.ndarray:
        signed = 2 * self.weights.reshape(self.out_channels, -1).astype(np.int64) - 1
        win = self.windows(np.asarray(x, np.uint8))
        dots = win.reshape(win.shape[:3] + (-1,)).astype(np.int64) @ signed.T  # (B, Ho, Wo, M)
        if self.thresholds is None:
            return dots
        bits = dots[..., None] >= self.thresholds[0][None, None, None]
        return bits.reshape(dots.shape[:3] + (-1,)).astype(np.uint8)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        h, w, c = in_type.shape
        pe, simd = fold.pe, fold.simd
        sf, nf = ceil_div(self.window_bits, simd), ceil_div(self.out_channels, pe)
        rows = line_buffer_rows(self.kernel, self.stride, h)
        acc = self.score_width
        k = self.slices
        # weight ROM, input words, line buffer, threshold ROM: in block RAM or LUT RAM
        memories = (block_ram.place_rom(pe * simd, sf * nf) + block_ram.place(8 * simd, 2 * sf)
                    + block_ram.place(8 * c, rows * w) + block_ram.place_rom(pe * k * acc, nf))
        return Cost(
            cycles=self.cycles(in_type, fold),
            # per lane: an 8-bit adder tree over the pixels under +1 weights (about 9 LUT4 per
            # pixel), accumulator and comparators; the shared pixel total; window counters
            # (within 2% of yosys on the shipped CNN's first layer, benchmarks/cost_model.py)
            lut4=pe * (9 * simd + 2 * acc + k * acc) + 9 * simd + 120 + 16 * c + memories.lut4,
            ff=8 * simd * 3 + 2 * pe * simd + round(pe * (1.5 * acc + k * acc)) + 100 + 16 * c,
            ebr=memories.ebr,
            weight_bits=self.weights.size + (self.thresholds.size * acc if k else 0),
            buffer_bits=2 * sf * 8 * simd + rows * w * 8 * c,
        )


@lowers(bnn.PixelConv2d)
def _lower(layer, ctx):
    if not ctx.at_input:
        raise ctx.error("must come right after ImageInput")
    if layer.weight_bits > 1:
        raise ctx.error(f"a PixelConv2d with {layer.weight_bits}-bit weights is not compiled yet")
    return scaled(ctx.node("conv", PixelConv2d(conv_weights(layer), layer.stride, layer.padding)), layer)

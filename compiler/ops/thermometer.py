"""Thermometer: 8-bit pixels to k bits each (``pixel >= t`` for each threshold ``t``).

Output bit ``i * k + j`` is 1 iff ``pixel[i] >= thresholds[j]`` (channels-last: for an image, channel
``c * k + j`` of a pixel is ``pixel[c] >= thresholds[j]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import Cost
from ..ir import Kind, TensorType
from .base import LANE_CHOICES, Fold, FoldRule, StreamOp, ceil_div, lowers

__all__ = ["Thermometer"]


@dataclass(frozen=True)
class Thermometer(StreamOp):
    thresholds: tuple[int, ...]

    fold_rule = FoldRule.SEARCHED

    def __post_init__(self):
        t = tuple(int(v) for v in self.thresholds)
        if not t or t != tuple(sorted(set(t))) or not all(1 <= v <= 255 for v in t):
            raise ValueError(f"thresholds must be strictly increasing in 1..255, not {self.thresholds}")
        object.__setattr__(self, "thresholds", t)

    def __repr__(self):
        return f"Thermometer({list(self.thresholds)})"

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.UINT8:
            raise ValueError(f"takes 8-bit pixels, got {x}")
        return TensorType(x.shape[:-1] + (x.shape[-1] * len(self.thresholds),), Kind.BITS)

    def reference(self, x: np.ndarray) -> np.ndarray:
        # A 256-entry table of each pixel value's k bits: one gather instead of k comparisons.
        table = (np.arange(256)[:, None] >= np.array(self.thresholds)).astype(np.uint8)
        x = np.asarray(x, np.uint8)
        return table[x].reshape(x.shape[:-1] + (-1,))

    def lanes(self, in_type) -> tuple[int, int]:
        """One lane per pixel: ``simd`` pixels per word."""
        return 1, in_type.size

    def cheapest_fold(self, in_type, budget: int) -> Fold:
        """The fewest pixels per word that keep within ``budget``."""
        features = in_type.size
        return Fold(1, min(features, next((s for s in LANE_CHOICES if ceil_div(features, s) <= budget), features)))

    def cycles(self, in_type, fold) -> int:
        return ceil_div(in_type.size, fold.simd)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """Bits of the hardware's input and output words: ``simd`` pixels in, their bits out."""
        return 8 * fold.simd, fold.simd * len(self.thresholds)

    def traffic(self, in_type, fold):
        """One 8-bit comparison per pixel and threshold; nothing is buffered."""
        from ..energy import Traffic
        return Traffic(int_ops=in_type.size * len(self.thresholds))

    def cost(self, in_type, fold, block_ram) -> Cost:
        k = len(self.thresholds)
        return Cost(cycles=self.cycles(in_type, fold), lut4=fold.simd * k * 3 + 16,
                    ff=fold.simd * k + 16)


@lowers(bnn.Thermometer)
def _lower(layer, ctx):
    if not ctx.at_input:
        raise ctx.error("must be the first layer (after ImageInput, if any)")
    return [ctx.node("thermometer", Thermometer(tuple(layer.thresholds)))]

"""MaxPool: non-overlapping max-pooling of a bit image, which on +-1 values is the OR of the bits.

A ``kernel`` x ``kernel`` window at stride ``kernel``; rows and columns that do not fill a whole window
are dropped (PyTorch's floor mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torch import nn

from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from .base import StreamOp, lowers

__all__ = ["MaxPool", "PoolWindows"]


class PoolWindows(StreamOp, abstract=True):
    """When a non-overlapping ``kernel x kernel`` pool of an image's pixels (one per cycle, a 3-word
    output FIFO) needs and takes its input pixels."""

    kernel: int

    def pooled_shape(self, x) -> tuple[int, int, int]:
        """The pooled shape of the image type ``x`` (the pool must fit it)."""
        h, w, c = x.shape
        if h < self.kernel or w < self.kernel:
            raise ValueError(f"a {self.kernel}x{self.kernel} pool does not fit a {h}x{w} image")
        return h // self.kernel, w // self.kernel, c

    def windows(self, x: np.ndarray) -> np.ndarray:
        """A batch of images ``x`` as its windows, ``(batch, ho, kernel, wo, kernel, channels)``."""
        b, h, w, c = x.shape
        k = self.kernel
        return x[:, :h // k * k, :w // k * k].reshape(b, h // k, k, w // k, k, c)

    def inputs_needed(self, in_type, n: int) -> int:
        """Input pixels the hardware takes before its ``n``-th output pixel: through the last
        pixel of that output's window."""
        h, w, _ = in_type.shape
        k = self.kernel
        frame, index = divmod(n - 1, (h // k) * (w // k))
        oy, ox = divmod(index, w // k)
        return frame * h * w + (oy * k + k - 1) * w + ox * k + k

    def inputs_accepted(self, in_type, n: int) -> int:
        """The most input pixels the hardware takes before its ``n``-th output: it works one input
        pixel per cycle, with a 3-word output FIFO."""
        return self.inputs_needed(in_type, n + 3)


@dataclass(frozen=True)
class MaxPool(PoolWindows):
    kernel: int

    def __post_init__(self):
        if not isinstance(self.kernel, int) or self.kernel < 2:
            raise ValueError(f"max-pool kernel must be an integer of at least 2, not {self.kernel!r}")

    # Image stages stream one pixel per vector (not the whole image), padded to their words.
    def in_vector_bits(self, in_type) -> int:
        return in_type.shape[-1] * in_type.width

    def out_vector_bits(self, out_type) -> int:
        return out_type.shape[-1]

    def __repr__(self):
        return f"MaxPool({self.kernel}x{self.kernel})"

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.BITS or len(x.shape) != 3:
            raise ValueError(f"max-pool is an OR of bits: it takes a binary image (after Sign), got {x}")
        return TensorType(self.pooled_shape(x), Kind.BITS)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.windows(x).max(axis=(2, 4))

    def cycles(self, in_type, fold) -> int:
        """An input pixel per cycle."""
        h, w, _ = in_type.shape
        return h * w

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """Bits of the hardware's input and output words: one pixel each."""
        return self.in_vector_bits(in_type), self.in_vector_bits(in_type)

    def traffic(self, in_type, fold):
        """One OR per input bit; the pooled row written and read once per window row but the last."""
        from ..energy import Traffic
        h, w, c = in_type.shape
        k = self.kernel
        return Traffic(fmap_bits=2 * (h // k) * (w // k) * c * (k - 1), binary_ops=h * w * c)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        h, w, c = in_type.shape
        wo = w // self.kernel
        row = block_ram.place(c, wo)   # the pooled row kept between input rows
        # OR and output word per channel, counters (fitted to yosys on the shipped CNN's pools)
        return Cost(cycles=self.cycles(in_type, fold), lut4=round(3.1 * c) + 55 + row.lut4, ff=3 * c + 20, ebr=row.ebr,
                    buffer_bits=wo * c + c, binary_ops=h * w * c)


@lowers(nn.MaxPool2d)
def _lower(layer, ctx):
    return [ctx.node("maxpool", MaxPool(ctx.config()["kernel_size"]))]

"""AvgPool: non-overlapping average pooling of a fixed-point image (Bi-Real's downsampling shortcut).

The mean of ``kernel**2`` values ``k / 2**frac`` is their integer sum on a grid ``kernel**2`` times
finer: with ``kernel`` a power of two the output is the sum with ``2 * log2(kernel)`` more fraction
bits, exactly what PyTorch's float32 ``AvgPool2d`` gives (the sum and the division by a power of
two are exact). Rows and columns that do not fill a whole window are dropped (floor mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torch import nn

from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ._vectors import LaneStream
from .base import ceil_div, lowers
from .fixed_point import FLOAT32_EXACT_BITS
from .max_pool import PoolWindows

__all__ = ["AvgPool"]


@dataclass(frozen=True)
class AvgPool(PoolWindows, LaneStream):
    """``kernel x kernel`` average pooling of fixed-point values; in hardware ``fold.pe`` values per
    word (:class:`~._vectors.LaneStream`), a :class:`~bnn_hw.hdl.SumPool`."""

    kernel: int

    def __post_init__(self):
        if not isinstance(self.kernel, int) or self.kernel < 2 or self.kernel & (self.kernel - 1):
            raise ValueError(f"an average pool's kernel must be a power of two (2, 4, ...) so that the mean "
                             f"stays on a binary fixed-point grid, not {self.kernel!r}")

    def __repr__(self):
        return f"AvgPool({self.kernel}x{self.kernel})"

    @property
    def extra_bits(self) -> int:
        """Bits the sum of a window adds (and fraction bits the mean adds): ``2 log2(kernel)``."""
        return 2 * (self.kernel.bit_length() - 1)

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT or len(x.shape) != 3:
            raise ValueError(f"averages a fixed-point image (a FixedPoint makes one), got {x}")
        shape = self.pooled_shape(x)
        width = x.width + self.extra_bits
        if width > FLOAT32_EXACT_BITS:
            raise ValueError(f"the window sums need {width} bits, more than float32 holds exactly")
        return TensorType(shape, Kind.INT, width, x.frac + self.extra_bits)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return self.windows(np.asarray(x, np.int64)).sum(axis=(2, 4))

    def inputs_accepted(self, in_type, n: int) -> int:
        """The most input pixels the hardware takes before its ``n``-th output: its output FIFO
        holds a whole pooled row (:class:`~bnn_hw.hdl.SumPool`)."""
        return self.inputs_needed(in_type, n + in_type.shape[1] // self.kernel + 1)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``pe`` values in, ``pe`` sums out."""
        return fold.pe * in_type.width, fold.pe * (in_type.width + self.extra_bits)

    def traffic(self, in_type, fold):
        """One addition per input value; the pooled row's partial sums written and read once per
        window row but the last, as fixed-point values."""
        from ..energy import Traffic
        h, w, c = in_type.shape
        k = self.kernel
        row_values = 2 * (h // k) * (w // k) * c * (k - 1)
        return Traffic(fixed_bits=row_values * (in_type.width + self.extra_bits), fixed_values=row_values,
                       int_ops=h * w * c)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        h, w, c = in_type.shape
        words, window_row = ceil_div(c, fold.pe), (w // self.kernel) * ceil_div(c, fold.pe)
        sum_bits = fold.pe * (in_type.width + self.extra_bits)
        # both buffers in LUT RAM (16x4 cells) with a multiplexer per 16 words of each bit; two
        # adders and multiplexers per sum bit, the registers between them, counters; the output FIFO
        # of a pooled row (fitted to yosys synth_ecp5 on the Bi-Real example's pool)
        cells = (ceil_div(window_row, 16) + ceil_div(words, 16)) * ceil_div(sum_bits, 4)
        out_fifo = block_ram.place(sum_bits, max(3, window_row))
        return Cost(cycles=self.cycles(in_type, fold),
                    lut4=4 * cells + sum_bits * ceil_div(window_row, 16) + 6 * sum_bits + 140 + out_fifo.lut4,
                    ff=4 * sum_bits + 80, ebr=out_fifo.ebr,
                    buffer_bits=(2 * window_row + words) * sum_bits)


@lowers(nn.AvgPool2d)
def _lower(layer, ctx):
    return [ctx.node("avgpool", AvgPool(ctx.config()["kernel_size"]))]

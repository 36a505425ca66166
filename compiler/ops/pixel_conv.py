"""PixelConv2d: a first-layer convolution of 8-bit pixels with binary or integer weights (integer sums).

Semantics, for an image ``x`` of shape (H, W, C) pixels ``0..255``: each output is the exact integer
``dot = sum(x * k)`` over the window of the zero-padded image (a padding pixel is 0 and adds
nothing, so no correction is needed), with ``k`` the weights as multiplied (:attr:`weight_matrix`):

- :class:`PixelConv2d`: weight bits ``w`` (M, k, k, C), ``k = 2 w - 1`` (+-1);
- :class:`IntPixelConv2d`: integer weights ``k`` (M, k, k, C) themselves (BNext's 8-bit first
  convolution, :class:`bnn_hw.nn.PixelConv2d` with ``weight_bits > 1``).

The output is either ``dot`` (before streamlining) or, with ``thresholds`` (1, M, K), bit
``m * K + j`` = ``dot >= thresholds[0, m, j]``. Windows, geometry and folding are those of
:class:`BinaryConv2d`. In hardware a window generator of whole pixels, a gearbox to ``simd`` pixels
and an 8-bit multiply-accumulate matrix-vector unit (``bnn_hw.hdl.sliding_window``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ... import nn as bnn
from ...errors import UnsupportedModelError
from ...intmath import signed_width
from ..cost import BlockRam, Cost, gearbox_cost, window_cost
from ..ir import Kind, TensorType
from ..microarch import dot_bound, line_buffer_rows
from ..thresholds import fold_levels, fold_score_thresholds
from ._arrays import frozen_array
from .base import Chain, ceil_div, lowers
from .binary_conv import BinaryConv2d, conv_weights
from .binary_dense import scaled
from .fixed_conv import LevelThresholds, mac_cost

__all__ = ["PixelConv2d", "IntPixelConv2d"]

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

    @property
    def weight_matrix(self) -> np.ndarray:
        """The weights as they multiply the window's pixels, (M, N) int64: +-1."""
        return 2 * self.weights.reshape(self.out_channels, -1).astype(np.int64) - 1

    def reference(self, x: np.ndarray) -> np.ndarray:
        win = self.windows(np.asarray(x, np.uint8))
        dots = win.reshape(win.shape[:3] + (-1,)).astype(np.int64) @ self.weight_matrix.T  # (B, Ho, Wo, M)
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


#: The widest weights the multiply-accumulate unit takes (:class:`~bnn_hw.hdl.MatrixVectorUnit`).
MAX_WEIGHT_BITS = 16


@dataclass(frozen=True, eq=False)
class IntPixelConv2d(PixelConv2d):
    """A :class:`PixelConv2d` whose ``weights`` (M, k, k, C) are integers (two's complement in
    :attr:`weight_bits` bits, at most 16): BNext's 8-bit first convolution. Its thresholds fold as a
    :class:`~.sparse_dense.SparseDense`'s scores do, over every sum the weights can give, and a
    channel whose sign falls as the sum rises has its weights negated (so the hardware only compares
    ``>=``). A ``[BatchNorm] FixedPoint`` after it folds into :class:`~.fixed_conv.LevelThresholds`
    on its sums, as after a :class:`~.fixed_conv.FixedConv`. In hardware the weights are bit planes,
    or multiplied in DSP blocks with a ``:dsp`` folding."""

    #: 8-bit pixels times multi-bit weights: a ``:dsp`` folding multiplies them in DSP blocks.
    multiplies = True

    def _checked_weights(self, w: np.ndarray) -> np.ndarray:
        if w.ndim != 4 or w.size == 0 or w.shape[1] != w.shape[2] or w.dtype.kind not in "iu":
            raise ValueError("IntPixelConv2d weights must be a non-empty (M, k, k, C) integer array")
        if signed_width(w.min(), w.max()) > MAX_WEIGHT_BITS:
            raise ValueError(f"IntPixelConv2d weights must fit {MAX_WEIGHT_BITS}-bit two's complement, not "
                             f"{w.min()}..{w.max()}")
        return frozen_array(w, np.int64)

    def __repr__(self):
        shape, rest = super().__repr__().split(",", 1)
        return f"{shape} int{self.weight_bits},{rest}"

    @property
    def weight_bits(self) -> int:
        """Bits of the two's complement weights (at least 2; one more than the layer's where a
        negated channel holds its most negative weight's opposite)."""
        return max(2, signed_width(self.weights.min(), self.weights.max()))

    @property
    def weight_matrix(self) -> np.ndarray:
        """The integer weights, (M, N) int64."""
        return self.weights.reshape(self.out_channels, -1)

    @property
    def dot_range(self) -> tuple[int, int]:
        """``-h..h`` holding every channel's sums: ``h`` 255 times the larger of a channel's positive
        and negative weights' sums."""
        w = self.weight_matrix
        h = PIXEL_MAX * int(max(np.clip(w, 0, None).sum(axis=1).max(), np.clip(-w, 0, None).sum(axis=1).max()))
        return -h, h

    @property
    def score_width(self) -> int:
        """Signed width of the hardware's sums: 255 times the window times the largest weight magnitude."""
        return dot_bound(self.window_bits, 8, False, self.weight_bits).bit_length() + 1

    def fold_chain(self, in_type, chain, name):
        """Thresholds on the sums (a sign ends the chain), or the sums and the
        :class:`~.fixed_conv.LevelThresholds` of a ``[BatchNorm] FixedPoint``; a channel whose
        output falls as its sum rises gets its weights negated."""
        if self.thresholds is not None or not chain:
            return None
        if chain[-1].chain is Chain.FIXED:
            sign, levels, base = fold_levels(self.weight_matrix, 0, in_type, chain)
            return self._negated(sign < 0, name), LevelThresholds(levels, base, chain[-1].frac)
        thresholds, invert = fold_score_thresholds(self.dot_range[1], self.out_channels, chain)
        # (dot >= T) != invert is, on the negated sum -dot, -dot >= 1 - T where inverted
        thresholds = np.where(invert[:, None], 1 - thresholds, thresholds)
        return replace(self._negated(invert, name), thresholds=thresholds[None]), None

    def _negated(self, channels: np.ndarray, name: str) -> "IntPixelConv2d":
        """The op with the weights of ``channels`` (a bool per channel) negated."""
        weights = np.where(channels[:, None, None, None], -self.weights, self.weights)
        if signed_width(weights.min(), weights.max()) > MAX_WEIGHT_BITS:
            raise UnsupportedModelError(f"{name}: a channel of the PixelConv2d before it falls as its sum rises, and "
                                        f"its negated weights need more than {MAX_WEIGHT_BITS} bits")
        return replace(self, weights=weights)

    # -- hardware -------------------------------------------------------------------------------

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """The window generator on whole pixels, the gearbox to ``simd`` pixels, the multiply-accumulate
        unit (:func:`~.fixed_conv.mac_cost`)."""
        h, w, c = in_type.shape
        n = self.window_bits
        window = window_cost(h, w, 8 * c, self.kernel, self.stride, 1, block_ram)
        gearbox = gearbox_cost(8 * n, 8 * c, 8 * fold.simd, 8 * n) if fold.simd != c else Cost()
        unit = mac_cost(self.out_channels, n, 8, False, 8, self.weight_bits, self.score_width, fold, block_ram,
                        self.slices)
        return replace(window + gearbox + unit, cycles=self.cycles(in_type, fold))


@lowers(bnn.PixelConv2d)
def _lower(layer, ctx):
    if not ctx.at_input:
        raise ctx.error("must come right after ImageInput")
    if layer.weight_bits > 1:
        weights = np.rint(layer.binary_weight().detach().cpu().numpy()).astype(np.int64).transpose(0, 2, 3, 1)
        return [ctx.node("conv", IntPixelConv2d(weights, layer.stride, layer.padding))]
    return scaled(ctx.node("conv", PixelConv2d(conv_weights(layer), layer.stride, layer.padding)), layer)

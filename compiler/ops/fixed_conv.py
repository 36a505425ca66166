"""The real-valued 1x1 convolution of Bi-Real's downsampling shortcut, and the thresholds it folds into.

- :class:`FixedConv`: :class:`bnn_hw.nn.FixedPointConv2d` on a fixed-point image. Its weights are
  integers ``w`` with ``weight_frac`` fraction bits and its inputs integers ``x`` with ``frac``, so
  every output is the integer ``S = sum(w * x)`` with ``frac + weight_frac`` fraction bits, exact in
  float32 while ``|S| < 2**24`` (checked). Before streamlining it gives the real value
  ``S / 2**(frac + weight_frac)`` as PyTorch does (for the BatchNorm after it); after, ``S`` itself.
- :class:`LevelThresholds`: what the ``[BatchNorm] FixedPoint`` after it makes of ``S``, a step
  function of ``S`` that the streamlining pass finds with the model's own float32 operations
  (:func:`~bnn_hw.compiler.thresholds.fold_levels`): ``base + (number of the channel's thresholds
  that S reaches)``. In hardware a pipelined binary search (:class:`~bnn_hw.hdl.ThresholdSearch`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ... import nn as bnn
from ...errors import UnsupportedModelError
from ...intmath import signed_width
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ..microarch import dot_bound, element_range, mac_sum_bits
from ..thresholds import fold_levels
from ._arrays import frozen_array
from ._matrix import MatrixStream
from ._vectors import LaneStream, VectorStream, vectors
from .base import Chain, Fold, FoldRule, ceil_div, lowers
from .fixed_point import FLOAT32_EXACT_BITS

__all__ = ["FixedConv", "LevelThresholds", "mac_cost"]


@dataclass(frozen=True, eq=False)
class FixedConv(VectorStream, MatrixStream):
    """A 1x1 convolution with integer weights ``(M, C)`` (``weight_frac`` fraction bits) on a
    fixed-point image with ``in_frac`` fraction bits; ``sums`` says it gives the integer sums (after
    streamlining) rather than their real values. In hardware a multiply-accumulate :class:`~bnn_hw.hdl.MatrixVectorUnit`
    (two's complement elements, the weights as bit planes) per pixel: ``pe`` output channels by
    ``simd`` input values."""

    weights: np.ndarray   #: (M, C) int64
    weight_frac: int
    in_frac: int
    sums: bool = False

    def __post_init__(self):
        w = np.asarray(self.weights)
        if w.ndim != 2 or 0 in w.shape or w.dtype.kind not in "iu":
            raise ValueError(f"a 1x1 convolution's weights must be an (M, C) integer array, not {w.shape}")
        object.__setattr__(self, "weights", frozen_array(w, np.int64))

    def __repr__(self):
        return f"FixedConv({self.out_channels}x{self.in_channels}, int{self.weight_bits}.{self.weight_frac})"

    @property
    def out_channels(self) -> int:
        return self.weights.shape[0]

    @property
    def in_channels(self) -> int:
        return self.weights.shape[1]

    @property
    def weight_bits(self) -> int:
        """Bits of the two's complement weights (at least 2)."""
        return max(2, signed_width(self.weights.min(), self.weights.max()))

    def element_width(self, in_type) -> int:
        """Bits of a two's complement element in the multiply-accumulate: the input value's."""
        return in_type.width

    def sum_bound(self, in_type) -> int:
        """The largest magnitude of a sum the hardware's accumulator holds."""
        return dot_bound(self.in_channels, self.element_width(in_type), True, self.weight_bits)

    def sum_width(self, in_type) -> int:
        """Signed bits of the sums: the hardware accumulator's (its score width), and more than their
        fraction bits (small weights on a fine grid have sums narrower than that)."""
        return max(self.sum_bound(in_type).bit_length() + 1, self.frac + 1)

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT or len(x.shape) != 3 or x.shape[-1] != self.in_channels or x.frac != self.in_frac:
            raise ValueError(f"takes a fixed-point image of {self.in_channels} channels with {self.in_frac} "
                             f"fraction bits, got {x}")
        width = self.sum_width(x)
        if width > FLOAT32_EXACT_BITS:
            raise ValueError(f"its sums need {width} bits, more than float32 PyTorch computes exactly "
                             f"({FLOAT32_EXACT_BITS}); use fewer bits in the weights or the FixedPoint before it")
        if not self.sums:
            return TensorType(x.shape[:2] + (self.out_channels,), Kind.REAL, 32)
        return TensorType(x.shape[:2] + (self.out_channels,), Kind.INT, width, self.frac)

    @property
    def frac(self) -> int:
        """Fraction bits of the sums."""
        return self.in_frac + self.weight_frac

    def integer_sums(self, x: np.ndarray) -> np.ndarray:
        """``S`` of a batch of images of integers ``x``: (B, H, W, M) int64."""
        return np.asarray(x, np.int64) @ self.weights.T

    def reference(self, x: np.ndarray) -> np.ndarray:
        s = self.integer_sums(x)
        return s if self.sums else s.astype(np.float32) * np.float32(2.0 ** -self.frac)

    @property
    def real_only(self) -> bool:
        """Before streamlining it gives real values."""
        return not self.sums

    def fold_chain(self, in_type, chain, name):
        """The sums, and the :class:`LevelThresholds` of the ``[BatchNorm] FixedPoint`` after them
        (channels whose values fall as the sum rises get their weights negated)."""
        if self.sums:
            return None
        if not chain or chain[-1].chain is not Chain.FIXED:
            raise UnsupportedModelError(f"{name}: a FixedPointConv2d must be followed by [BatchNorm2d] and "
                                        f"FixedPoint, which bnn-hw folds into thresholds on its sums")
        sign, thresholds, base = fold_levels(self.weights, self.frac, in_type, chain)
        return (FixedConv(self.weights * sign[:, None], self.weight_frac, self.in_frac, sums=True),
                LevelThresholds(thresholds, base, chain[-1].frac))

    # -- hardware -------------------------------------------------------------------------------

    #: Fixed-point values times multi-bit weights: a ``:dsp`` folding multiplies them in DSP blocks.
    multiplies = True

    @property
    def weight_count(self) -> int:
        return self.weights.size

    def lanes(self, in_type) -> tuple[int, int]:
        """The most useful ``(pe, simd)``: one lane per output channel and per input value."""
        return self.out_channels, self.in_channels

    def cycles(self, in_type, fold) -> int:
        return vectors(in_type) * self.memory_depth(in_type, fold)

    def memory_depth(self, in_type, fold) -> int:
        """Words of the unit's weight ROM: ``NF * SF``."""
        return ceil_div(self.out_channels, fold.pe) * ceil_div(self.in_channels, fold.simd)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``simd`` values in, ``pe`` sums out."""
        return fold.simd * in_type.width, fold.pe * self.sum_width(in_type)

    def traffic(self, in_type, fold):
        """Per pixel: the input values written once and read once per group of ``pe`` outputs, the
        weights read once, one masked addition per weight bit plane and input (the multiply-adds,
        float32 in a real-valued design), one accumulation per ``simd`` word."""
        from ..energy import Traffic
        pixels, m, c = vectors(in_type), self.out_channels, self.in_channels
        values = pixels * c * (1 + ceil_div(m, fold.pe))
        macs = pixels * m * c
        inputs = (Traffic(fmap_bits=values) if in_type.kind is Kind.BITS
                  else Traffic(fixed_bits=values * in_type.width, fixed_values=values))
        return inputs + Traffic(weight_bits=pixels * self.weights.size * self.weight_bits,
                                int_ops=macs * self.weight_bits + pixels * m * ceil_div(c, fold.simd),
                                fixed_macs=macs, fixed_mac_adds=macs * self.weight_bits)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        unit = mac_cost(self.out_channels, self.in_channels, self.element_width(in_type), True, in_type.width,
                        self.weight_bits, self.sum_width(in_type), fold, block_ram)
        return replace(unit, cycles=self.cycles(in_type, fold))


def mac_cost(out_features: int, in_features: int, element_width: int, signed_elements: bool, word_width: int,
             weight_bits: int, acc: int, fold, block_ram: BlockRam, slices: int = 0) -> Cost:
    """Estimated cost of a multiply-accumulate :class:`~bnn_hw.hdl.MatrixVectorUnit` giving the
    ``acc``-bit sums of ``in_features`` elements of ``element_width`` bits (two's complement or
    unsigned; arriving ``word_width`` bits each) times ``weight_bits``-bit weights, per vector
    (``cycles``: ``NF * SF``), or their ``slices`` thresholds per channel: weights as bit planes, or
    multiplied in DSP blocks where ``fold.multipliers``.

    The weight word is registered twice on its way from the ROM; a register bit is one of the
    ``2**depth`` functions of the ROM's address, and yosys merges equal ones (a shallow ROM's). With
    one output word (``pe`` the channels) the thresholds are constants: no ROM, no register.

    Against yosys synth_ecp5, each stage alone (``benchmarks/mac_cost.py``): the Bi-Real example's 1x1
    convolution (10-bit values, 4-bit weights, a 128-word ROM) at 1x16 LUT4 +9% and FF 0%, at
    1x16:dsp +29% and 0% (ABC9 fails on both alone: classic ABC), at 4x16:dsp -25% and -1%. An
    8-bit first convolution (:class:`~.pixel_conv.IntPixelConv2d`, window generator included) of 64
    channels of 3x3 windows on 28x28 pixels, with thresholds and 9-bit weights: at 64x1 (the default
    folding, a 9-word ROM) +11% and +11%, 32x1 +7% and +23%, 8x9 -5% and +12%, 4x9 -11% and +1%,
    1x9 -11% and 0%, 8x9:dsp +22% and +11%, 2x9:dsp 0% and 0%. A ROM shallower than 8 words with
    several values a word (more lanes than a convolution's window lets work) leaves the weights
    nearly constant, and yosys shrinks the adder trees: at 16x9 (4 words) the estimate is +26% and
    +44%, at 32x9 (2 words) +81% and +54%.
    """
    pe, simd, e, b, k = fold.pe, fold.simd, element_width, weight_bits, slices
    sf, nf = ceil_div(in_features, simd), ceil_div(out_features, pe)
    memories = block_ram.place_rom(pe * simd * b, sf * nf) + block_ram.place(simd * word_width, 2 * sf)
    if k and nf > 1:   # the threshold ROM, its word registered once (as the comparators read it)
        trom = block_ram.place_rom(pe * k * acc, nf)
        memories = memories + Cost(lut4=trom.lut4, ff=pe * k * acc, ebr=trom.ebr)
    # the lane's sum and accumulator, its scores or the comparators and their bits
    lane = Cost(lut4=3 * acc + k * acc, ff=2 * acc + (k if k else acc))
    weight_registers = 2 * _distinct(pe * simd * b, sf * nf)
    e_lo, e_hi = element_range(e, signed_elements)
    common = dict(cycles=sf * nf, ebr=memories.ebr, weight_bits=out_features * in_features * b + out_features * k * acc,
                  buffer_bits=2 * sf * simd * word_width)
    if fold.multipliers:
        # a DSP block per element and lane, the products registered, then per lane a carry-chain
        # adder tree of the simd products; counters and the output FIFO
        w_lo, w_hi = -(1 << (b - 1)), (1 << (b - 1)) - 1
        products = [x * w for x in (e_lo, e_hi) for w in (w_lo, w_hi)]
        product = e + b
        return Cost(
            lut4=pe * (simd * product + lane.lut4) + 2 * simd * e + 75 + memories.lut4,
            ff=3 * simd * e + weight_registers + memories.ff + pe * simd * product
               + pe * (mac_sum_bits(simd, min(products), max(products)) + lane.ff) + 64,
            dsp=pe * simd, **common)
    # per lane and weight bit plane a masked adder tree over the simd values (carry-chain adders
    # of 4 values, then of 4 sums: about 2 LUT4 per value bit, fitted to yosys synth_ecp5 on the
    # Bi-Real example's unit), the planes' shifted sum; counters and the output FIFO
    # (one value a word: each lane's and plane's value is the element masked by a weight bit, and
    # equal weight bits make equal registers, which merge)
    planes = _distinct(pe * b, sf * nf) * e if simd == 1 else pe * b * mac_sum_bits(simd, e_lo, e_hi)
    return Cost(
        lut4=round(pe * (2 * b * simd * e + b * acc + lane.lut4)) + 2 * simd * e + 75 + memories.lut4,
        # the words registered, per lane and plane the slice sums and their adder tree's levels,
        # counters
        ff=3 * simd * e + weight_registers + memories.ff + planes + pe * lane.ff + 64,
        **common)


def _distinct(bits: int, depth: int) -> int:
    """How many of ``bits`` random functions of a ROM address (``depth`` words: ``2**depth`` functions)
    differ, expected: registers yosys keeps of a shallow ROM's bits."""
    functions = 2.0 ** min(depth, 1000)
    return round(functions * -math.expm1(-bits / functions))


@dataclass(frozen=True, eq=False)
class LevelThresholds(LaneStream):
    """Channel ``c``'s integer sum ``s`` to ``base + sum_j (s >= thresholds[c, j])``, a fixed-point
    value with ``frac`` fraction bits; ``width`` bits hold every value. In hardware the producer's
    ``fold.pe`` values per word (:class:`~._vectors.LaneStream`), a :class:`~bnn_hw.hdl.ThresholdSearch`."""

    thresholds: np.ndarray   #: (M, K) int64, rows ascending
    base: int
    frac: int

    fold_rule = FoldRule.FOLLOWS

    def __post_init__(self):
        t = np.asarray(self.thresholds)
        if t.ndim != 2 or 0 in t.shape or t.dtype.kind not in "iu" or np.any(np.diff(t, axis=1) < 0):
            raise ValueError(f"level thresholds must be an (M, K) integer array with ascending rows, not {t.shape}")
        object.__setattr__(self, "thresholds", frozen_array(t, np.int64))

    def __repr__(self):
        return f"LevelThresholds({self.channels}x{self.thresholds.shape[1]} -> int{self.width}.{self.frac})"

    @property
    def channels(self) -> int:
        return self.thresholds.shape[0]

    @property
    def width(self) -> int:
        """Signed bits of the values (and more than the fraction bits)."""
        return max(signed_width(self.base, self.base + self.thresholds.shape[1]), self.frac + 1)

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT or x.shape[-1] != self.channels:
            raise ValueError(f"takes the integer sums of {self.channels} channels, got {x}")
        return TensorType(x.shape, Kind.INT, self.width, self.frac)

    def reference(self, sums: np.ndarray) -> np.ndarray:
        s = np.asarray(sums, np.int64)
        return self.base + (s[..., None] >= self.thresholds).sum(axis=-1)

    def derived_fold(self, in_type, producer_fold, producer_cycles: int):
        """The sums as they come: the producer's ``pe`` per word."""
        return Fold(producer_fold.pe, 1)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``pe`` sums in, ``pe`` values out."""
        return fold.pe * in_type.width, fold.pe * self.width

    def traffic(self, in_type, fold):
        """One threshold read and one comparison per search step and value; each value stands for a
        BatchNorm (a float32 multiply and add in a real-valued design)."""
        from ..energy import Traffic
        values, steps = in_type.size, self.thresholds.shape[1].bit_length()
        return Traffic(weight_bits=values * steps * (in_type.width + 1), int_ops=values * steps,
                       channel_outputs=values)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        pe, w = fold.pe, in_type.width
        steps, groups = self.thresholds.shape[1].bit_length(), ceil_div(self.channels, fold.pe)
        roms = Cost()
        for d in range(steps):
            roms = roms + block_ram.place_rom(w + 1, groups << d)
        # per lane and step a comparator (on a carry chain); the sums, nodes and thresholds registered
        # along the three stages of each step; the output FIFO (fitted to yosys synth_ecp5 on the
        # Bi-Real example's unit)
        return Cost(
            cycles=self.cycles(in_type, fold),
            lut4=pe * (steps * (w + 2) // 2 + roms.lut4) + 2 * pe * self.width + 30,
            ff=pe * steps * (4 * w + 2 * steps + 13) + pe * self.width + 3 * steps + 20 + roms.ff,
            ebr=pe * roms.ebr,
            weight_bits=self.thresholds.size * (w + 1),
        )


@lowers(bnn.FixedPointConv2d)
def _lower(layer, ctx):
    weights = (layer.fixed_weight() * float(2 ** layer.weight_frac_bits)).detach().cpu().numpy()[:, :, 0, 0]
    return [ctx.node("conv", FixedConv(weights.astype(np.int64), layer.weight_frac_bits, ctx.in_type.frac))]

"""Fixed-point ops: Bi-Real Net's real-valued feature maps, as integers on a binary-point grid.

A fixed-point value is an ``INT`` tensor with ``frac`` fraction bits: the integer ``k`` stands for
``k / 2**frac``. Four ops carry them:

- :class:`Quantize` (before streamlining): a real value rounded to the grid, as
  :class:`bnn_hw.nn.FixedPoint` does it.
- :class:`Requantize` (after streamlining): what a binary layer's ``[Scale] [BatchNorm] Quantize``
  chain makes of its integer scores, one table per channel over the ``N + 1`` possible popcounts,
  evaluated with the model's own float32 PyTorch operations (so exact, like the thresholds).
- :class:`Add`: Bi-Real's real-valued shortcut, ``body + x``; its width is one bit more than the
  wider input's, so it never overflows.
- :class:`FixedSign`: ``k >= 0`` (bit 1 = +1), the binary activation of a fixed-point value.

PyTorch computes all of it exactly in float32 as long as every integer stays below ``2**24``, which
the types check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ... import nn as bnn
from ...intmath import signed_width
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ..microarch import rom_bank_depth, rom_slices
from ..thresholds import fold_table
from ._arrays import frozen_array
from ._vectors import LaneStream, VectorStream, vectors
from .base import Chain, Fold, FoldRule, JoinOp, Op, ceil_div, lowers

__all__ = ["Quantize", "Requantize", "FixedJoin", "Add", "FixedSign", "FLOAT32_EXACT_BITS", "requantize", "integers",
           "fixed_shortcut_traffic"]

#: The widest signed integers float32 holds exactly (a 24-bit significand), the widest fixed-point type.
FLOAT32_EXACT_BITS = 25


def integers(x) -> np.ndarray:
    """``x`` as int64 integers (fixed-point values are their integers ``k``)."""
    return np.asarray(x).astype(np.int64)


@dataclass(frozen=True)
class Quantize(Op):
    """``clamp(round(x * 2**frac), range)`` of a real value: :class:`bnn_hw.nn.FixedPoint`, whose
    float32 PyTorch code it runs (so its integers ``k`` are the model's ``y * 2**frac``)."""

    frac: int
    width: int

    real_only = True
    chain = Chain.FIXED
    layer_name = "FixedPoint"

    def __post_init__(self):
        from ...nn import FixedPoint
        FixedPoint(self.frac, self.width)  # the layer's argument checks

    def __repr__(self):
        return f"Quantize({self.width} bits, {self.frac} fraction)"

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.REAL:
            raise ValueError(f"FixedPoint rounds real values (a BatchNorm's output), got {x}")
        return TensorType(x.shape, Kind.INT, self.width, self.frac)

    def integers(self, t):
        """The integers ``k`` of a float32 torch tensor ``t`` (as a float32 tensor)."""
        from ...nn import FixedPoint
        return FixedPoint(self.frac, self.width)(t) * float(2 ** self.frac)

    def reference(self, x):
        import torch
        with torch.no_grad():
            return integers(self.integers(torch.from_numpy(np.ascontiguousarray(x, np.float32))))


@dataclass(frozen=True, eq=False)
class Requantize(VectorStream):
    """A binary layer's scores to fixed point: channel ``c``'s score ``s`` (over ``N`` inputs, so
    ``s = 2p - N`` for ``p`` matches) gives ``table[c, p]``.

    In hardware it takes the producing layer's words of ``simd`` scores (that layer's ``pe``) and
    gives words of ``pe`` values, ``pe`` dividing ``simd``; each of the ``pe`` lanes looks its
    channels' tables up in a ROM of ``ceil(M / pe) * (N + 1)`` words (:meth:`lanes_within`).
    """

    table: np.ndarray  #: (M, N + 1) int64
    frac: int

    fold_rule = FoldRule.FOLLOWS

    def __post_init__(self):
        t = np.asarray(self.table)
        if t.ndim != 2 or t.shape[1] < 2 or t.dtype.kind not in "iu":
            raise ValueError(f"a requantization table must be an (M, N + 1) integer array, not {t.shape}")
        object.__setattr__(self, "table", frozen_array(t, np.int64))
        if self.width > FLOAT32_EXACT_BITS - 1:
            raise ValueError(f"table values need {self.width} bits, more than float32 holds exactly")

    @property
    def inputs(self) -> int:
        """``N``: the inputs of the layer whose scores it takes."""
        return self.table.shape[1] - 1

    @property
    def channels(self) -> int:
        return self.table.shape[0]

    @property
    def width(self) -> int:
        """Signed bits of the output values (the table's range, and more than the fraction bits)."""
        return max(signed_width(self.table.min(), self.table.max()), self.frac + 1)

    def __repr__(self):
        return f"Requantize({self.channels}x{self.inputs + 1} -> int{self.width}.{self.frac})"

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT or x.frac or x.shape[-1] != self.channels:
            raise ValueError(f"takes the integer scores of {self.channels} channels, got {x}")
        if x.width != self.inputs.bit_length() + 1:
            raise ValueError(f"takes scores of {self.inputs} inputs ({self.inputs.bit_length() + 1} bits), got {x}")
        return TensorType(x.shape, Kind.INT, self.width, self.frac)

    def reference(self, scores):
        p = (integers(scores) + self.inputs) // 2
        return self.table[np.arange(self.channels), p]

    # -- hardware -------------------------------------------------------------------------------

    def lanes_within(self, in_lanes: int, cycles: int) -> int:
        """The fewest lanes (a divisor of ``in_lanes``) that give a vector's values in at most
        ``cycles`` cycles (its producer's time per vector), so the table ROMs are few and full."""
        divisors = [d for d in range(1, in_lanes + 1) if in_lanes % d == 0]
        return next((d for d in divisors if ceil_div(self.channels, d) <= cycles), in_lanes)

    def derived_fold(self, in_type, producer_fold, producer_cycles: int):
        """The producer's ``pe`` scores per word in, as few lanes out as keep up with it."""
        lanes = self.lanes_within(producer_fold.pe, producer_cycles // vectors(in_type))
        return Fold(lanes, producer_fold.pe)

    def cycles(self, in_type, fold) -> int:
        return vectors(in_type) * ceil_div(self.channels, fold.pe)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``simd`` scores in, ``pe`` values out."""
        return fold.simd * in_type.width, fold.pe * self.width

    def memory_depth(self, in_type, fold) -> int:
        """Words of each lane's table ROM."""
        return ceil_div(self.channels, fold.pe) * (self.inputs + 1)

    def traffic(self, in_type, fold):
        """One table word read and one address addition per value; in a real-valued design each
        value is a float32 BatchNorm (a multiply and an add)."""
        from ..energy import Traffic
        values = in_type.size
        return Traffic(weight_bits=values * self.width, int_ops=values, channel_outputs=values)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        lanes, sw, parts = fold.pe, in_type.width, fold.simd // fold.pe
        depth = self.memory_depth(in_type, fold)
        # each bit slice's banks ROMs of their own, as the hardware builds them (one ROM in place of
        # the banks undercounted the BNext-style example's 96-channel tables by 9 blocks of 41)
        slices = [(w, rom_bank_depth(w)) for w in rom_slices(self.width, depth)]
        rom = sum((block_ram.place_banks(w, depth, d) for w, d in slices), Cost())
        banked_bits = sum(ceil_div(depth, d) * w for w, d in slices)
        banked = lanes * banked_bits if banked_bits > self.width else 0   # each bank's word registered
        out_bits = lanes * self.width
        return Cost(
            cycles=self.cycles(in_type, fold),
            # per lane the score multiplexer, the address adder, the ROM (block or LUT RAM) and the
            # bank multiplexer; the counters and the 3-word output FIFO (LUT RAM)
            lut4=lanes * (sw * (parts - 1) + sw + rom.lut4) + banked // 2 + 2 * out_bits + 24,
            ff=out_bits + lanes * sw + banked + 24,
            ebr=lanes * rom.ebr,
            weight_bits=self.table.size * self.width,
        )


def requantize(n_inputs: int, channels: int, chain) -> Requantize:
    """The :class:`Requantize` table of the real-valued ``chain`` (ending in a :class:`Quantize`)
    after the scores of a binary layer of ``n_inputs`` inputs and ``channels`` channels."""
    return Requantize(fold_table(n_inputs, channels, chain), chain[-1].frac)


def fixed_shortcut_traffic(bits: int, channels: int, vectors_per_frame: int):
    """A shortcut FIFO's traffic where it carries fixed-point values: ``bits`` written and read, as
    ``channels`` values per vector each way (32 bits each in the real-valued baseline)."""
    from ..energy import Traffic
    return Traffic(fixed_bits=bits, fixed_values=2 * channels * vectors_per_frame)


class FixedJoin(LaneStream, JoinOp, abstract=True):
    """A join of two fixed-point values (of one shape, but for squeeze-and-excitation's, whose body
    gives one pixel), ``fold.pe`` values per word (:class:`~._vectors.LaneStream`): in hardware the
    fork, the shortcut FIFO (narrow and deep, one block RAM where it fits) and one arithmetic unit
    per lane."""

    verb: ClassVar[str] = "joins"

    def pair(self, inputs, same_frac: bool = True, same_shape: bool = True) -> tuple[TensorType, TensorType]:
        """The ``(body, shortcut)`` types it takes: fixed-point values of one shape (unless not
        ``same_shape``) and, if ``same_frac``, the same fraction bits; ``ValueError`` naming what
        does not meet."""
        if len(inputs) != 2:
            raise ValueError(f"{self.verb} two values, got {len(inputs)}")
        body, shortcut = inputs
        if body.kind is not Kind.INT or shortcut.kind is not Kind.INT:
            raise ValueError(f"{self.verb} fixed-point values (a FixedPoint ends the block's body, and its "
                             f"ShortcutBranch if it has one), got {body} and {shortcut}")
        if (same_shape and body.shape != shortcut.shape) or (same_frac and body.frac != shortcut.frac):
            same = "with the same fraction bits (FixedPoint frac_bits)" if same_frac else ""
            raise ValueError(f"the block's body gives {body} but its shortcut carries {shortcut}; it {self.verb} "
                             f"only values of one shape {same}".rstrip())
        return body, shortcut

    @staticmethod
    def exact_width(width: int, what: str) -> int:
        """``width``, or ``ValueError`` if float32 PyTorch cannot compute such values exactly."""
        if width > FLOAT32_EXACT_BITS:
            raise ValueError(f"the {what} needs {width} bits, more than float32 PyTorch computes exactly "
                             f"({FLOAT32_EXACT_BITS}); use fewer bits in the FixedPoint layers")
        return width

    def shortcut_traffic(self, bits: int, vectors_per_frame: int):
        """The shortcut FIFO's traffic: ``bits`` written and read as fixed-point values, one per
        channel (``self.channels``, the shortcut's) per vector each way."""
        return fixed_shortcut_traffic(bits, self.channels, vectors_per_frame)


@dataclass(frozen=True)
class Add(FixedJoin):
    """Bi-Real's real-valued shortcut join: ``body + shortcut``, two fixed-point values of
    ``channels`` channels on the same grid; the sum is one bit wider than the wider of them, so it
    never overflows."""

    channels: int

    verb = "adds"

    def __repr__(self):
        return f"Add({self.channels})"

    def infer(self, inputs):
        body, shortcut = self.pair(inputs)
        if body.shape[-1] != self.channels:
            raise ValueError(f"adds {self.channels} channels, got {body}")
        width = self.exact_width(max(body.width, shortcut.width) + 1, "sum")
        return TensorType(body.shape, Kind.INT, width, body.frac)

    def reference(self, body, shortcut):
        return integers(body) + integers(shortcut)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``pe`` body values in (``in_type`` is the body's value), about one bit more each out (the
        shortcut's width, which may be wider, is the block's: the join's hardware is given both)."""
        return fold.pe * in_type.width, fold.pe * (in_type.width + 1)

    def traffic(self, in_type, fold):
        """One fixed-point addition per value (the shortcut FIFO's traffic is its block's)."""
        from ..energy import Traffic
        return Traffic(int_ops=in_type.size, fixed_adds=in_type.size)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        out_bits = self.word_bits(in_type, fold)[1]
        # an adder bit per output bit, the input pair's registers, the result register and its
        # 3-word output FIFO (LUT RAM)
        return Cost(cycles=self.cycles(in_type, fold), lut4=out_bits + 2 * out_bits + 12, ff=4 * out_bits + 8)


@dataclass(frozen=True, eq=False)
class FixedSign(LaneStream):
    """The sign of a fixed-point value: bit 1 (+1) where ``k >= 0``, as PyTorch's ``x >= 0``, or where
    ``k >= thresholds[c]`` per channel (a :class:`~.real.Bias` before the sign, folded); in hardware
    ``fold.pe`` values per word (:class:`~._vectors.LaneStream`)."""

    thresholds: np.ndarray | None = None

    def __post_init__(self):
        if self.thresholds is not None:
            object.__setattr__(self, "thresholds", frozen_array(self.thresholds, np.int64))

    def __repr__(self):
        return "FixedSign()" if self.thresholds is None else f"FixedSign(thresholds={self.thresholds.size})"

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT:
            raise ValueError(f"takes fixed-point values, got {x}")
        if self.thresholds is not None and self.thresholds.size != x.shape[-1]:
            raise ValueError(f"has {self.thresholds.size} thresholds but its input has {x.shape[-1]} channels")
        return TensorType(x.shape, Kind.BITS)

    def reference(self, x):
        return (integers(x) >= (0 if self.thresholds is None else self.thresholds)).astype(np.uint8)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        return fold.pe * in_type.width, fold.pe

    def traffic(self, in_type, fold):
        """Wiring (the sign bit of each value), or with thresholds a comparison per value."""
        from ..energy import Traffic
        if self.thresholds is None:
            return Traffic()
        values = in_type.size
        return Traffic(int_ops=values, activations=values, channel_outputs=values)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """The top bits; with thresholds a comparison per lane (a carry chain of the value's width),
        and past one word per vector each lane's threshold chosen by the word counter."""
        if self.thresholds is None:
            return Cost(cycles=self.cycles(in_type, fold), lut4=2 * fold.pe + 12, ff=fold.pe + 8)
        words = ceil_div(self.values_per_vector(in_type), fold.pe)
        select = in_type.width * ceil_div(words, 4) if words > 1 else 0
        return Cost(cycles=self.cycles(in_type, fold), lut4=fold.pe * (in_type.width + select + 1) + 12,
                    ff=fold.pe + words.bit_length() + 8)


@lowers(bnn.FixedPoint)
def _lower_fixed_point(layer, ctx):
    """A real value's rounding (folded into the layer before it), or a fixed-point value's rounding
    to another grid, a stage of its own."""
    if ctx.in_type.kind is Kind.INT:
        from .rescale import Rescale
        return [ctx.node("fixed", Rescale(ctx.in_type.frac, layer.frac_bits, layer.bits))]
    return [ctx.node("fixed", Quantize(layer.frac_bits, layer.bits))]


@lowers(bnn.RealShortcut)
def _lower_real_shortcut(layer, ctx):
    body, shortcut = ctx.shortcut_block()
    return [ctx.node("add", Add(ctx.types[body].shape[-1]), (body, shortcut))]

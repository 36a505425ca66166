"""Concat: the channels of a block's shortcut followed by those of its body (``torch.cat([x, body(x)],
dim=1)``), BoolNet's reuse of a block's input channels beside the ones it computes; with a computing
branch on the shortcut, two branches side by side (BNext's two 1x1 convolutions where the channels
double).

The first input is the body's result, the second the shortcut's (the value the body started from,
or the branch's result); in the output the shortcut's channels come first. Both are bits, or both
fixed-point values on one grid (the narrower sign-extended to the wider's width). In hardware a
:class:`~bnn_hw.hdl.ForkJoin` with a :class:`~bnn_hw.hdl.ConcatJoin`: wiring, a register and the
shortcut FIFO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ._vectors import VectorStream, vector_bits
from .base import JoinOp, lowers
from .fixed_point import fixed_shortcut_traffic

__all__ = ["Concat"]


@dataclass(frozen=True)
class Concat(VectorStream, JoinOp):
    shortcut_channels: int   #: channels (or bits of a vector) the shortcut carries
    #: fixed-point sides: the body's channels (their hardware words are split into values by it); None for bits
    body_channels: int | None = None

    def __repr__(self):
        return f"Concat(shortcut {self.shortcut_channels})"

    def infer(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"concatenates two values, got {len(inputs)}")
        body, shortcut = inputs
        fixed = self.body_channels is not None
        kind = Kind.INT if fixed else Kind.BITS
        if body.kind is not kind or shortcut.kind is not kind or (fixed and body.frac != shortcut.frac):
            raise ValueError(f"concatenates bits with bits (a Sign ends each side) or fixed-point values on one "
                             f"grid (FixedPoint layers with the same frac_bits end each side), got {body} and "
                             f"{shortcut}")
        if body.shape[:-1] != shortcut.shape[:-1]:
            raise ValueError(f"the block's body gives {body} but its shortcut carries {shortcut}; it concatenates "
                             f"only values with the same image size")
        if shortcut.shape[-1] != self.shortcut_channels or (fixed and body.shape[-1] != self.body_channels):
            raise ValueError(f"expects a shortcut of {self.shortcut_channels} channels, got {shortcut}")
        channels = body.shape[:-1] + (shortcut.shape[-1] + body.shape[-1],)
        if not fixed:
            return TensorType(channels, Kind.BITS)
        return TensorType(channels, Kind.INT, max(body.width, shortcut.width), body.frac)

    def reference(self, body: np.ndarray, shortcut: np.ndarray) -> np.ndarray:
        return np.concatenate([shortcut, body], axis=-1)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        # wires; the input pair's registers, the result register and its 3-word output FIFO (LUT
        # RAM), as wide as the output
        bits = vector_bits(in_type) // in_type.shape[-1] * (in_type.shape[-1] + self.shortcut_channels)
        return Cost(cycles=self.cycles(in_type, fold), lut4=2 * bits + 12, ff=3 * bits + 8)

    def traffic(self, in_type, fold):
        """Wiring (the shortcut FIFO's traffic is its block's)."""
        from ..energy import Traffic
        return Traffic()

    def shortcut_traffic(self, bits: int, vectors_per_frame: int):
        """Bits of a bit shortcut; fixed-point values' bits and count (32 bits each in the baseline)."""
        if self.body_channels is None:
            return super().shortcut_traffic(bits, vectors_per_frame)
        return fixed_shortcut_traffic(bits, self.shortcut_channels, vectors_per_frame)


@lowers(bnn.ConcatShortcut)
def _lower(layer, ctx):
    body, shortcut = ctx.shortcut_block()
    body_type, shortcut_type = ctx.types[body], ctx.types[shortcut]
    fixed = body_type.shape[-1] if body_type.kind is Kind.INT else None
    return [ctx.node("concat", Concat(shortcut_type.shape[-1], fixed), (body, shortcut))]

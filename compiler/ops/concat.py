"""Concat: the channels of a block's shortcut followed by those of its body (``torch.cat([x, body(x)],
dim=1)``), BoolNet's reuse of a block's input channels beside the ones it computes.

The first input is the body's result, the second the shortcut (the value the body started from); in
the output the shortcut's channels come first. In hardware a :class:`~bnn_hw.hdl.ForkJoin` with a
:class:`~bnn_hw.hdl.ConcatJoin`: wiring, a register and the shortcut FIFO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ._vectors import VectorStream, joined_bits, vector_bits
from .base import JoinOp, lowers

__all__ = ["Concat"]


@dataclass(frozen=True)
class Concat(VectorStream, JoinOp):
    shortcut_channels: int   #: channels (or bits of a vector) the shortcut carries

    def __repr__(self):
        return f"Concat(shortcut {self.shortcut_channels})"

    def infer(self, inputs):
        body, shortcut = joined_bits(inputs, "concatenates", "the same image size", lambda a, b: a[:-1] == b[:-1])
        if shortcut.shape[-1] != self.shortcut_channels:
            raise ValueError(f"expects a shortcut of {self.shortcut_channels} channels, got {shortcut}")
        return TensorType(body.shape[:-1] + (shortcut.shape[-1] + body.shape[-1],), Kind.BITS)

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


@lowers(bnn.ConcatShortcut)
def _lower(layer, ctx):
    body, shortcut = ctx.block(list(layer))
    return [ctx.node("concat", Concat(ctx.in_type.shape[-1]), (body, shortcut))]

"""LogicJoin: BoolNet's logic shortcut, a bitwise XNOR or OR of two equally shaped bit values.

On +-1 values XNOR is the product ``x * y`` and OR the maximum; in bits ``1 - (a ^ b)`` and ``a | b``.
The first input is the block's body, the second the shortcut (the value the body started from). In
hardware the shortcut is a FIFO beside the body (:class:`~bnn_hw.hdl.ForkJoin`); its depth comes
from the body's stages (:func:`bnn_hw.compiler.blocks.shortcut_depth`) and its cost is the plan's
(:class:`bnn_hw.compiler.plan.Bypass`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ._vectors import WholeVectors, joined_bits, vector_bits
from .base import JoinOp, lowers

__all__ = ["LogicJoin", "JOIN_OPS"]

#: The bitwise joins: on +-1 values XNOR is the product and OR the maximum.
JOIN_OPS = ("xnor", "or")


@dataclass(frozen=True)
class LogicJoin(WholeVectors, JoinOp):
    mode: str  #: "xnor" or "or"

    def __post_init__(self):
        if self.mode not in JOIN_OPS:
            raise ValueError(f"a logic join is one of {JOIN_OPS}, not {self.mode!r}")

    def __repr__(self):
        return f"LogicJoin({self.mode})"

    def infer(self, inputs):
        body, _ = joined_bits(inputs, "joins", "equal shapes", lambda a, b: a == b)
        return body

    def reference(self, body: np.ndarray, shortcut: np.ndarray) -> np.ndarray:
        if self.mode == "xnor":
            return (1 - (body ^ shortcut)).astype(np.uint8)
        return (body | shortcut).astype(np.uint8)

    def traffic(self, in_type, fold):
        """A 1-bit operation per bit (the shortcut FIFO's traffic is its block's)."""
        from ..energy import Traffic
        return Traffic(binary_ops=in_type.size, joins=in_type.size)

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        bits = vector_bits(in_type)
        # a LUT4 per bit, the input pair's registers, the result register and its 3-word output
        # FIFO (LUT RAM)
        return Cost(cycles=self.cycles(in_type, fold), lut4=bits + 2 * bits + 12, ff=4 * bits + 8,
                    binary_ops=in_type.size)


@lowers(bnn.LogicShortcut)
def _lower(layer, ctx):
    body, shortcut = ctx.block(list(layer))
    return [ctx.node(layer.op, LogicJoin(layer.op), (body, shortcut))]

"""Mix: BNext's Info-Recoupling join, ``s * shortcut + (1 - s) * body`` per channel
(:class:`bnn_hw.nn.RecouplingShortcut`).

With ``s = m / 2**frac`` (``m`` in ``0 .. 2**frac``) and both inputs on one grid, the result is the
integer ``2**frac * body + m * (shortcut - body)`` on the grid ``frac`` bits finer: one subtraction,
one multiplication by the channel's constant and one addition per value. It lies between the two
inputs, so ``frac`` more bits than the wider of them hold it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import nn as bnn
from ..cost import BlockRam, Cost
from ..ir import Kind, TensorType
from ._arrays import frozen_array
from .base import ceil_div, lowers
from .fixed_point import FixedJoin, integers

__all__ = ["Mix"]


@dataclass(frozen=True, eq=False)
class Mix(FixedJoin):
    """``(2**frac - m[c]) * body + m[c] * shortcut`` per channel ``c``: the mix ``s = m / 2**frac`` of
    the shortcut into the body's value, exact on the grid ``frac`` bits finer than the inputs'."""

    weights: np.ndarray   #: ``m`` per channel, integers in ``0 .. 2**frac``
    frac: int

    verb = "mixes"

    def __post_init__(self):
        w = np.asarray(self.weights)
        if w.ndim != 1 or not w.size or w.dtype.kind not in "iu":
            raise ValueError(f"mix weights must be a vector of integers, not {w.dtype} of shape {w.shape}")
        if not isinstance(self.frac, int) or self.frac < 1:
            raise ValueError(f"the mix's fraction bits must be a positive integer, not {self.frac!r}")
        if w.min() < 0 or w.max() > 1 << self.frac:
            raise ValueError(f"mix weights must lie in 0..{1 << self.frac} (s in [0, 1]), not {w.min()}..{w.max()}")
        object.__setattr__(self, "weights", frozen_array(w, np.int64))

    def __repr__(self):
        return f"Mix({self.weights.size}, frac {self.frac})"

    @property
    def channels(self) -> int:
        return self.weights.size

    def infer(self, inputs):
        body, shortcut = self.pair(inputs)
        if body.shape[-1] != self.channels:
            raise ValueError(f"mixes {self.channels} channels, got {body}")
        width = self.exact_width(max(body.width, shortcut.width) + self.frac, "mix")
        return TensorType(body.shape, Kind.INT, width, body.frac + self.frac)

    def reference(self, body, shortcut):
        body, shortcut = integers(body), integers(shortcut)
        return (body << self.frac) + self.weights * (shortcut - body)

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """``pe`` body values in, ``pe`` values ``frac`` bits wider out (the shortcut's width, which
        may be wider, is the block's: the join's hardware is given both)."""
        return fold.pe * in_type.width, fold.pe * (in_type.width + self.frac)

    def traffic(self, in_type, fold):
        """Per value a subtraction, a multiplication by a ``frac + 1``-bit constant (as many
        additions) and an addition; in a real-valued design a float32 multiply-add and an add."""
        from ..energy import Traffic
        values = in_type.size
        return Traffic(int_ops=values * (self.frac + 3), fixed_adds=values, fixed_macs=values,
                       fixed_mac_adds=values * (self.frac + 2))

    def cost(self, in_type, fold, block_ram: BlockRam) -> Cost:
        """Per lane the subtractor, the ``(frac + 1) x (width + 1)`` multiplier in LUTs and carry
        chains (its constant chosen by the word counter past one word per vector) and the adder;
        the input pair's registers, the registered difference and scaled body value, the registered
        product and scaled value, the result register and its output FIFO (LUT RAM)."""
        w = in_type.width + 1
        out_bits = self.word_bits(in_type, fold)[1]
        words = ceil_div(self.channels, fold.pe)
        select = (self.frac + 1) * ceil_div(words, 4) if words > 1 else 0
        lane = w + (self.frac + 1) * w + select + w + self.frac
        return Cost(cycles=self.cycles(in_type, fold), lut4=fold.pe * lane + 2 * out_bits + 12,
                    ff=7 * out_bits + 2 * words.bit_length() + 8)


@lowers(bnn.RecouplingShortcut)
def _lower(layer, ctx):
    import torch
    frac = layer.frac_bits
    with torch.no_grad():
        weights = (layer.mix_weights() * float(1 << frac)).numpy().astype(np.int64)
    body, shortcut = ctx.shortcut_block()
    return [ctx.node("mix", Mix(weights, frac), (body, shortcut))]

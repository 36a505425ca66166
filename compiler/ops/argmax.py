"""ArgMax: the class index of the largest score; ties go to the lowest index (as ``torch.argmax``).

In hardware its fold's ``simd`` is the number of scores per input word: the producer's ``pe``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cost import Cost, gearbox_cost
from ..ir import Kind, TensorType
from ..microarch import index_width
from .base import Fold, FoldRule, StreamOp

__all__ = ["ArgMax"]


@dataclass(frozen=True)
class ArgMax(StreamOp):
    fold_rule = FoldRule.FOLLOWS

    def infer(self, inputs):
        (x,) = inputs
        if x.kind is not Kind.INT or len(x.shape) != 1:
            raise ValueError(f"takes a vector of integer scores, got {x}")
        return TensorType((1,), Kind.INT, max(1, (x.size - 1).bit_length()) + 1)

    def reference(self, scores: np.ndarray) -> np.ndarray:
        return np.argmax(scores, axis=1)[:, None]  # numpy, like torch, returns the first maximum

    def derived_fold(self, in_type, producer_fold, producer_cycles: int) -> Fold:
        """The score layer's ``pe`` scores per word."""
        return Fold(1, producer_fold.pe)

    def cycles(self, in_type, fold) -> int:
        """A score per cycle."""
        return in_type.size

    def word_bits(self, in_type, fold) -> tuple[int, int]:
        """Bits of the hardware's input and output words: ``simd`` scores in, the index and every
        score out."""
        return fold.simd * in_type.width, index_width(in_type.size) + in_type.bits

    def traffic(self, in_type, fold):
        """A comparison per score; the scores are held in registers."""
        from ..energy import Traffic
        return Traffic(int_ops=in_type.size)

    def cost(self, in_type, fold, block_ram) -> Cost:
        classes, lanes, score_width = in_type.size, fold.simd, in_type.width
        # one score per cycle; wider words are first cut into single scores
        slices = Cost() if lanes == 1 else gearbox_cost(classes * score_width, lanes * score_width,
                                                        score_width, classes * score_width)
        # registers: the scores held and the output word's copy, the running maximum and its index,
        # the index counter and the output's index
        return Cost(cycles=self.cycles(in_type, fold), lut4=score_width * 2 + classes * 2,
                    ff=2 * classes * score_width + 3 * index_width(classes) + 1,
                    buffer_bits=classes * score_width) + slices

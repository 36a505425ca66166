"""ArgMax: the class index of the largest score; ties go to the lowest index (as ``torch.argmax``).

In hardware its fold's ``simd`` is the number of scores per input word (the producer's ``pe``) and its
``pe`` the comparisons per cycle: one (a head comparing a score per cycle with the maximum so far), or
every score at once (a pipelined comparator tree) after a producer that gives all its scores every
cycle, as a gate network does.
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
        """The score layer's ``pe`` scores per word, compared one per cycle, or all at once after a
        producer that gives every score in each cycle."""
        classes = in_type.size
        if producer_cycles == 1 and producer_fold.pe >= classes and classes > 1:
            return Fold(classes, producer_fold.pe)
        return Fold(1, producer_fold.pe)

    def is_tree(self, in_type, fold) -> bool:
        """Whether it compares every score at once (a comparator tree)."""
        return fold.pe >= in_type.size > 1

    def cycles(self, in_type, fold) -> int:
        """A score per cycle, or one vector per cycle for a tree."""
        return 1 if self.is_tree(in_type, fold) else in_type.size

    def latency(self, in_type, fold) -> int:
        """A tree: its input register and two registers per comparison level (the comparisons, then
        the selections); a head: its cycles."""
        if self.is_tree(in_type, fold):
            return 1 + 2 * (in_type.size - 1).bit_length()
        return self.cycles(in_type, fold)

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
        if self.is_tree(in_type, fold):
            # a comparison and a multiplexer per pair, the comparisons and the selections of each level
            # registered with the scores beside them, and the output FIFO (stages + 4 words; LUT RAM)
            levels = (classes - 1).bit_length()
            out_bits = index_width(classes) + classes * score_width
            return Cost(cycles=1, lut4=(classes - 1) * (2 * score_width + index_width(classes)) + out_bits,
                        ff=(2 * levels + 1) * classes * score_width + 2 * classes * (score_width + index_width(classes)),
                        buffer_bits=classes * score_width)
        # one score per cycle; wider words are first cut into single scores
        slices = Cost() if lanes == 1 else gearbox_cost(classes * score_width, lanes * score_width,
                                                        score_width, classes * score_width)
        # registers: the scores held and the output word's copy, the running maximum and its index,
        # the index counter and the output's index
        return Cost(cycles=self.cycles(in_type, fold), lut4=score_width * 2 + classes * 2,
                    ff=2 * classes * score_width + 3 * index_width(classes) + 1,
                    buffer_bits=classes * score_width) + slices

"""Matrix-vector stages: the folding of a unit with ``pe`` output lanes by ``simd`` input lanes."""

from __future__ import annotations

from .base import LANE_CHOICES, Fold, FoldRule, StreamOp

__all__ = ["MatrixStream", "MAX_ROM_DEPTH"]

#: The deepest weight ROM a folding gets where it can: deeper, a ROM spans several block RAMs in depth
#: and the multiplexer after them sits between the block RAM's slow clock-to-output and the first
#: register (the shipped CNN's 12,288-word dense14 ROM held its clock at 97.9 MHz on the ULX3S). An
#: ECP5 DP16KD is 2,048 words deep at 9 bits wide.
MAX_ROM_DEPTH = 2048


class MatrixStream(StreamOp, abstract=True):
    """A stage built around a matrix-vector unit: its :meth:`lanes` are output channels by inputs,
    its :meth:`memory_depth` the weight ROM's words; the default folding anchors on the largest."""

    fold_rule = FoldRule.MATRIX
    #: Folded to its full lanes (one vector per cycle) the stage is built unrolled: its weights are
    #: constants in the logic, with no weight memory (dense layers; see :meth:`is_unrolled`).
    unrolls = False
    #: It can multiply its multi-bit elements and weights in DSP blocks (``Fold(..., multipliers=True)``).
    multiplies = False

    def is_unrolled(self, in_type, fold) -> bool:
        """Whether ``fold`` builds this stage unrolled: an op that :attr:`unrolls`, at its full lanes."""
        return self.unrolls and (fold.pe, fold.simd) == tuple(self.lanes(in_type))

    def _folds(self, in_type, lanes: int | None = None):
        """Every distinct fold from :data:`LANE_CHOICES` (at most ``lanes`` lanes), capped at :meth:`lanes`."""
        max_pe, max_simd = self.lanes(in_type)
        return {Fold(min(pe, max_pe), min(simd, max_simd)) for pe in LANE_CHOICES for simd in LANE_CHOICES
                if lanes is None or pe * simd <= lanes}

    def cheapest_fold(self, in_type, budget: int) -> Fold:
        """The fewest lanes (pe * simd) within ``budget`` cycles per frame and :data:`MAX_ROM_DEPTH`
        weight words (where some folding is); of equally many lanes, the fastest; unrolled instead
        where that is cheaper."""
        costs = {(f.pe * f.simd, self.cycles(in_type, f), f.pe): f for f in self._folds(in_type)}
        within = [key for key in costs if key[1] <= budget]
        shallow = [key for key in within if self.memory_depth(in_type, costs[key]) <= MAX_ROM_DEPTH]
        fold = costs[min(shallow or within)] if within else Fold(*self.lanes(in_type))
        return self._unrolled_if_cheaper(in_type, fold)

    def _unrolled_if_cheaper(self, in_type, fold: Fold) -> Fold:
        """``fold``, or the full lanes where this stage unrolls and that costs fewer LUT4 (a wide
        unit's compressor trees cost more than a sparse layer's unrolled counts, or a small layer's)."""
        full = Fold(*self.lanes(in_type))
        if not self.unrolls or fold == full:
            return fold
        from ..cost import GENERIC_BLOCK_RAM
        unrolled, folded = (self.cost(in_type, f, GENERIC_BLOCK_RAM).lut4 for f in (full, fold))
        return full if unrolled < folded else fold

    def fastest_within(self, in_type, lanes: int) -> int:
        """The fewest cycles per frame with at most ``lanes`` lanes."""
        return min(self.cycles(in_type, f) for f in self._folds(in_type, lanes))

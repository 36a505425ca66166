"""The :class:`~bnn_hw.hdl.mvu.MatrixVectorUnit`'s datapath for binary elements: XNOR-popcount."""

# the slicing is the compiler's plan, which its cost model counts
from ..compiler.microarch import POPCOUNT_CHUNK, SUM_GROUP
from .mvu_datapath import SliceDatapath
from .popcount import xnor_popcount

__all__ = ["PopcountDatapath"]


class PopcountDatapath(SliceDatapath):
    """Each lane's ``popcount(xnor(x, w))`` over a ``simd``-bit input word: the popcounts of
    POPCOUNT_CHUNK-bit slices registered, then (more than SUM_GROUP slices) one registered level of
    group sums (stage 1q), so that no lane adds more than SUM_GROUP numbers in one cycle.

    The binary dot product of ``n`` bits (bit 1 is +1, bit 0 is -1) is ``2 * p - n`` for the
    popcount ``p``.
    """

    chunk = POPCOUNT_CHUNK
    planes = range(1)
    element_bounds = (0, 1)

    def slice_sum(self, m, x, w, lane, plane, lo, hi):
        base = lane * self.simd
        return xnor_popcount(m, x[lo:hi], w[base + lo:base + hi])

    def reduce(self, pipe, flags, level):
        if len(self.slices) > SUM_GROUP:
            return pipe.stage(flags, "f1q"), self.group_sums(pipe, level, "pg")
        return flags, level

    def lane_value(self, plane_sums, shared):
        return plane_sums[0]

    def sum_range(self, n):
        """The popcount of ``n`` bits: ``0..n``."""
        return 0, n

    def score(self, acc, n):
        return acc * 2 - n

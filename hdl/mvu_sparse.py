"""The :class:`~bnn_hw.hdl.mvu.MatrixVectorUnit`'s datapath for sparse ``{alpha, beta}`` layers: each
lane's ``a * popcount(x) + d * popcount(x AND b)`` of an input word with its mask bits ``b``."""

from amaranth.hdl import Const, Signal

# the slicing is the compiler's plan, which its cost model counts
from ..compiler.microarch import POPCOUNT_CHUNK, SUM_GROUP
from ._arith import times_constant
from .mvu_datapath import SliceDatapath
from .popcount import xnor_popcount

__all__ = ["SparseDatapath"]


def _count(m, bits):
    """The number of 1s of ``bits`` (the compressor tree, counting where they equal all-ones)."""
    return xnor_popcount(m, bits, Const(-1, len(bits)))


class SparseDatapath(SliceDatapath):
    """Each lane's ``shared * p0 + scale * p1`` over a ``simd``-bit input word ``x``: ``p1`` the
    popcount of ``x AND`` the lane's mask bits in slices of POPCOUNT_CHUNK bits, ``p0`` the popcount of
    ``x`` (once for all lanes); then one registered level of the lanes' group sums beside ``a * p0``.
    A lane's accumulated value over a vector is then its ``L = a p0 + d p1``
    (:meth:`~bnn_hw.compiler.ops.SparseDense.hardware_form`).
    """

    chunk = POPCOUNT_CHUNK
    planes = range(1)
    element_bounds = (0, 1)

    def __init__(self, pe, simd, shared, scale):
        self.shared, self.scale = int(shared), int(scale)
        super().__init__(pe, simd)

    def slice_sum(self, m, x, w, lane, plane, lo, hi):
        base = lane * self.simd
        return _count(m, x[lo:hi] & w[base + lo:base + hi])

    def register_shared(self, pipe, x):
        totals = [self.sum_signal(f"total{c}", hi - lo) for c, (lo, hi) in enumerate(self.slices)]
        for (lo, hi), total in zip(self.slices, totals):
            pipe.register(total, _count(pipe.m, x[lo:hi]))
        self._total = self.sum_signal("word_total", self.simd)
        pipe.m.d.comb += self._total.eq(sum(totals))
        return self._total

    def reduce(self, pipe, flags, level):
        """Stage 1q, always: the shared ``a * p0`` registered (its slice sums, shifts and adds) beside
        each lane's slice sums added SUM_GROUP at a time, so that the lane values after it are one
        shift-and-add (the folded example's unit held 81 MHz with all of it in one cycle)."""
        shared = Signal(range(min(0, self.shared * self.simd), max(0, self.shared * self.simd) + 1),
                        name="word_shared")
        pipe.register(shared, times_constant(self._total, self.shared))
        self._shared_product = shared
        return pipe.stage(flags, "f1q"), self.group_sums(pipe, level, "pg")

    def lane_value(self, plane_sums, shared):
        return self._shared_product + times_constant(plane_sums[0], self.scale)

    def sum_range(self, n):
        """``a p0 + d p1`` over ``0 <= p1 <= p0 <= n``: its extremes at the corners."""
        values = [self.shared * p0 + self.scale * p1 for p0, p1 in ((0, 0), (n, 0), (n, n))]
        return min(values), max(values)

    def score(self, acc, n):
        raise NotImplementedError("a folded sparse unit gives thresholded bits, not scores")

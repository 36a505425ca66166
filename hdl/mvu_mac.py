"""The :class:`~bnn_hw.hdl.mvu.MatrixVectorUnit`'s datapath for multi-bit elements: multiply-accumulate
as sums of elements masked by the weights' bit planes."""

from amaranth.hdl import Mux

# the slicing and the sums' bounds are the compiler's plan (its cost and type models)
from ..compiler.microarch import MAC_CHUNK, POPCOUNT_CHUNK, dot_bound, element_range
from .mvu_datapath import SliceDatapath

__all__ = ["MacDatapath"]


class MacDatapath(SliceDatapath):
    """Each lane's dot product ``sum_s w[s] * x[s]`` of a word of ``simd`` elements of
    ``element_width`` bits (two's complement with ``signed_elements``, else unsigned).

    With ``weight_bits=1`` the weights are +-1 (bit 1 is +1): the dot product is
    ``2 * plus - total``, ``plus`` the sum of the elements under 1 bits and ``total`` the sum of all
    (registered once, shared by the lanes), each over slices of POPCOUNT_CHUNK elements. With
    ``weight_bits=B > 1`` they are ``B``-bit two's complement integers: each bit plane's masked sum,
    shifted, the sign plane's subtracted; the slice sums of MAC_CHUNK elements are added SUM_GROUP
    at a time, one registered level each (stages 1t), until one sum per plane is left.
    """

    def __init__(self, pe, simd, element_width, signed_elements, weight_bits):
        self.element_width, self.signed, self.weight_bits = element_width, signed_elements, weight_bits
        self.chunk = POPCOUNT_CHUNK if weight_bits == 1 else MAC_CHUNK
        self.planes = range(weight_bits)
        self.element_bounds = element_range(element_width, signed_elements)
        super().__init__(pe, simd)

    def element(self, x, s):
        """Element ``s`` of input word ``x``, as a signed value for two's complement elements."""
        E = self.element_width
        value = x[s * E:(s + 1) * E]
        return value.as_signed() if self.signed else value

    def slice_sum(self, m, x, w, lane, plane, lo, hi):
        B = self.weight_bits
        return sum(Mux(w[(lane * self.simd + s) * B + plane], self.element(x, s), 0) for s in range(lo, hi))

    def register_shared(self, pipe, x):
        """+-1 weights: the sum of all the word's elements (its slices' sums registered at stage 1p)."""
        if self.weight_bits > 1:
            return None
        totals = [self.sum_signal(f"total{c}", hi - lo) for c, (lo, hi) in enumerate(self.slices)]
        for (lo, hi), total in zip(self.slices, totals):
            pipe.register(total, sum(self.element(x, s) for s in range(lo, hi)))
        word_total = self.sum_signal("word_total", self.simd)
        pipe.m.d.comb += word_total.eq(sum(totals))
        return word_total

    def reduce(self, pipe, flags, level):
        depth = 0
        while self.weight_bits > 1 and len(level[0][0]) > 1:
            flags = pipe.stage(flags, f"f1t{depth}")
            level, depth = self.group_sums(pipe, level, f"pt{depth}_"), depth + 1
        return flags, level

    def lane_value(self, plane_sums, shared):
        if self.weight_bits == 1:
            return 2 * plane_sums[0] - shared
        sign = self.weight_bits - 1
        return sum(plane_sums[j] << j for j in range(sign)) - (plane_sums[sign] << sign)

    def sum_range(self, n):
        """``-h..h``, ``h`` the :func:`dot_bound` of ``n`` elements."""
        hi = dot_bound(n, self.element_width, self.signed, self.weight_bits)
        return -hi, hi

    def score(self, acc, n):
        return acc

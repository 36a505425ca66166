"""The :class:`~bnn_hw.hdl.mvu.MatrixVectorUnit`'s datapath for multi-bit elements: multiply-accumulate
as sums of elements masked by the weights' bit planes."""

from amaranth.hdl import Mux

# the slicing and the sums' bounds are the compiler's plan (its cost and type models)
from ..compiler.microarch import MAC_CHUNK, POPCOUNT_CHUNK, dot_bound, element_range
from .mvu_datapath import SliceDatapath

__all__ = ["MacDatapath", "ProductDatapath"]


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


class ProductDatapath(MacDatapath):
    """Each lane's dot product of a word of ``simd`` multi-bit elements with ``weight_bits``-bit two's
    complement weights, by multiplication: every element times its weight in a multiplier of its own
    (yosys maps each to a DSP block, an ECP5 MULT18X18D), the products registered (stage 1m), then
    summed MAC_CHUNK at a time (stage 1p) and SUM_GROUP at a time in registered levels, as the bit
    planes' sums are in :class:`MacDatapath`.
    """

    def __init__(self, pe, simd, element_width, signed_elements, weight_bits):
        if weight_bits < 2 or element_width < 2:
            raise ValueError("multipliers take multi-bit elements and weights")
        super().__init__(pe, simd, element_width, signed_elements, weight_bits)
        self.planes = range(1)
        e_lo, e_hi = self.element_bounds
        w_lo, w_hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
        corners = [e * w for e in (e_lo, e_hi) for w in (w_lo, w_hi)]
        self.element_bounds = (min(corners), max(corners))   # now a product's

    def weight(self, w, lane, s):
        """Lane ``lane``'s weight of element ``s``, signed."""
        B = self.weight_bits
        return w[(lane * self.simd + s) * B:(lane * self.simd + s + 1) * B].as_signed()

    def build(self, pipe, x, w, flags):
        """Stage 1m: every lane's products, registered (reset-less, so that on the ECP5 the registers
        move into the DSP blocks' output registers, and the operand words of stage 1s into their
        input registers: :mod:`bnn_hw.boards.ecp5_dsp_registers`); then the slices' sums of them."""
        flags = pipe.stage(flags, "f1m")
        products = [[self.sum_signal(f"prod{l}_{s}", 1, reset_less=True) for s in range(self.simd)]
                    for l in range(self.pe)]
        for l in range(self.pe):
            for s in range(self.simd):
                pipe.register(products[l][s], self.element(x, s) * self.weight(w, l, s))
        return super().build(pipe, products, w, flags)

    def slice_sum(self, m, products, w, lane, plane, lo, hi):
        return sum(products[lane][lo:hi])

    def reduce(self, pipe, flags, level):
        depth = 0
        while len(level[0][0]) > 1:
            flags = pipe.stage(flags, f"f1t{depth}")
            level, depth = self.group_sums(pipe, level, f"pt{depth}_"), depth + 1
        return flags, level

    def lane_value(self, plane_sums, shared):
        return plane_sums[0]

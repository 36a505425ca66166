"""What the :class:`~bnn_hw.hdl.mvu.MatrixVectorUnit`'s two datapaths share: the compute pipeline they
add registers to, and the sums of slices of an input word added up SUM_GROUP at a time.

The unit's skeleton (input buffer, weight ROM, counters, accumulators, thresholds) reads one input
word and one weight word per cycle and hands both to a datapath, which computes each output lane's
part of the dot product from them: XNOR-popcount for binary elements
(:class:`~bnn_hw.hdl.mvu_popcount.PopcountDatapath`), multiply-accumulate for multi-bit ones
(:class:`~bnn_hw.hdl.mvu_mac.MacDatapath`).
"""

from amaranth.hdl import Signal

# the slicing is the compiler's plan, which its cost model counts
from ..compiler.microarch import SUM_GROUP

__all__ = ["Pipeline", "SliceDatapath"]


class Pipeline:
    """The unit's compute pipeline: registers that all load together while ``advance`` is high.

    Flags (``flags``, a :class:`~amaranth.lib.data.StructLayout`: valid, first / last word of a
    vector, ...) travel with the data, one struct-typed register per stage.
    """

    def __init__(self, m, advance, flags):
        self.m, self.advance, self.flags = m, advance, flags

    def register(self, target, value):
        """Load ``target`` with ``value`` whenever the pipeline advances."""
        with self.m.If(self.advance):
            self.m.d.sync += target.eq(value)

    def stage(self, previous, name):
        """The flags register of a new stage called ``name``, following ``previous``."""
        stage = Signal(self.flags, name=name)
        self.register(stage, previous)
        return stage


class SliceDatapath:
    """Each output lane's dot product of one input word with its weights, as sums of slices.

    Every lane's weights are ``planes`` bit planes (one for +-1 weights); each plane's sum over the
    word is split into slices of ``chunk`` elements, each slice's sum registered (stage 1p), and
    the slice sums added up in registered levels as the subclass's :meth:`reduce` chooses. A
    subclass gives ``chunk``, ``planes``, ``element_bounds`` (an element's smallest and largest value
    in a slice sum), :meth:`slice_sum`, :meth:`reduce`, :meth:`lane_value` and :meth:`sum_range`.
    """

    chunk: int
    planes: range
    element_bounds: tuple[int, int]

    def __init__(self, pe, simd):
        self.pe, self.simd = pe, simd
        self.slices = [(lo, min(lo + self.chunk, simd)) for lo in range(0, simd, self.chunk)]

    def build(self, pipe, x, w, flags):
        """The lanes' dot products of input word ``x`` with weight word ``w`` (each lane's
        ``simd`` weights in turn): ``(flags, values)``, ``flags`` those of the last stage added and
        ``values`` one expression per lane, computed from that stage's registers."""
        flags = pipe.stage(flags, "f1p")
        level = self.register_slices(pipe, x, w)
        shared = self.register_shared(pipe, x)
        flags, level = self.reduce(pipe, flags, level)
        return flags, [self.lane_value([sum(value for value, _ in terms) for terms in level[l]], shared)
                       for l in range(self.pe)]

    def sum_signal(self, name, count, reset_less=False):
        """A signal holding the sum of ``count`` elements (bits, or multi-bit elements' products)."""
        lo, hi = self.element_bounds
        return Signal(range(min(lo, 0) * count, hi * count + 1), name=name, reset_less=reset_less)

    def register_slices(self, pipe, x, w):
        """Stage 1p: each lane's and plane's slice sums, registered; per lane and plane a list of
        ``(register, elements it adds up)``."""
        partial = [[[self.sum_signal(f"pp{l}_{j}_{c}", hi - lo) for c, (lo, hi) in enumerate(self.slices)]
                    for j in self.planes] for l in range(self.pe)]
        for l in range(self.pe):
            for j in self.planes:
                for (lo, hi), pp in zip(self.slices, partial[l][j]):
                    pipe.register(pp, self.slice_sum(pipe.m, x, w, l, j, lo, hi))
        return [[[(pp, hi - lo) for pp, (lo, hi) in zip(partial[l][j], self.slices)] for j in self.planes]
                for l in range(self.pe)]

    def register_shared(self, pipe, x):
        """A value of input word ``x`` that every lane's :meth:`lane_value` uses, registered beside
        the slice sums; None (the default) where there is none."""
        return None

    def group_sums(self, pipe, level, name):
        """Each lane's and plane's sums added SUM_GROUP at a time into registers: the next level."""
        reduced = [[[] for _ in self.planes] for _ in range(self.pe)]
        for l in range(self.pe):
            for j in self.planes:
                terms = level[l][j]
                for g in range(0, len(terms), SUM_GROUP):
                    group = terms[g:g + SUM_GROUP]
                    count = sum(n for _, n in group)
                    total = self.sum_signal(f"{name}{l}_{j}_{g // SUM_GROUP}", count)
                    pipe.register(total, sum(value for value, _ in group))
                    reduced[l][j].append((total, count))
        return reduced

    def slice_sum(self, m, x, w, lane, plane, lo, hi):
        """The sum of elements ``lo..hi - 1`` of ``x`` times ``lane``'s weights' bit ``plane``."""
        raise NotImplementedError

    def reduce(self, pipe, flags, level):
        """Levels of :meth:`group_sums` after the slice sums, each a stage: ``(flags, level)``."""
        raise NotImplementedError

    def lane_value(self, plane_sums, shared):
        """A lane's dot product from its planes' sums over the word (and :meth:`register_shared`'s)."""
        raise NotImplementedError

    def sum_range(self, n):
        """``(lo, hi)``: the range of a lane's dot product over ``n`` elements."""
        raise NotImplementedError

    def score(self, acc, n):
        """The signed dot product of ``n`` elements from the lane's accumulated ``acc``."""
        raise NotImplementedError

"""An unrolled dense layer: its weights are constants in the logic, one input vector per clock cycle.

Each output channel counts a fixed set of literals of the input vector, pipelined as
:func:`~bnn_hw.hdl.group_count.count_groups` does: for a binary layer all ``N`` inputs, each as it
is or inverted (the XNOR with a constant weight is a wire or an inverter); for a sparse
``{alpha, beta}`` layer only the channel's beta positions, beside one count of all the inputs that
every channel shares. No weight memory, no accumulator: the layer is as large as its connections.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..compiler import ops
from ..compiler.microarch import UNROLLED_COUNT
from ..compiler.quotient_thresholds import quotient_thresholds
from ._arith import times_constant
from ._free_running import FreeRunningPipeline
from .group_count import count_groups
from .registry import builds

__all__ = ["UnrolledDense"]


class UnrolledDense(wiring.Component):
    """Per channel ``m``, the count ``c[m]`` of its literals of the input vector ``x`` (N bits, one
    vector per word), then its value ``v[m] = shared * popcount(x) + scale_count * c[m]`` (``shared``
    None: ``v[m] = c[m]``), then either bits ``(v[m] >= thresholds[m, j]) != invert[m]`` (bit
    ``m * K + j``) or the signed scores ``score_scale * v[m] - score_offsets[m]``.

    Parameters
    ----------
    literals : array-like of -1, 0, 1, shape (M, N)
        1: channel ``m`` counts input bit ``n``; -1: it counts its inverse; 0: it does not read it.
    thresholds : array-like of int, shape (M, K), or None
        On the value; None gives scores.
    invert : array-like of bool, shape (M,), optional
        Channels whose output bits are inverted (with thresholds).
    shared, scale_count : int
        The value's coefficients of the shared count of all inputs (None: not counted) and of the
        channel's count.
    score_scale : int, score_offsets : array-like of int (M,), score_width : int
        The scores (without thresholds) and their signed width.

    Attributes
    ----------
    i : In(stream.Signature(unsigned(N)))
    o : Out(stream.Signature(unsigned(M * K))) with thresholds, else
        Out(stream.Signature(data.ArrayLayout(signed(score_width), M)))
    """

    def __init__(self, literals, thresholds=None, invert=None, *, shared=None, scale_count=1, score_scale=2,
                 score_offsets=None, score_width=None):
        literals = np.asarray(literals)
        if literals.ndim != 2 or literals.size == 0 or not np.isin(literals, (-1, 0, 1)).all():
            raise ValueError("literals must be a non-empty (M, N) array of -1, 0 and 1")
        self._literals = literals.astype(np.int8)
        M, N = literals.shape
        self._shared, self._scale = shared, int(scale_count)
        if thresholds is not None:
            thresholds = np.asarray(thresholds, np.int64)
            if thresholds.ndim != 2 or thresholds.shape[0] != M or thresholds.shape[1] < 1:
                raise ValueError(f"thresholds must have shape ({M}, K), not {thresholds.shape}")
            invert = np.zeros(M, bool) if invert is None else np.asarray(invert, bool)
            if invert.shape != (M,):
                raise ValueError(f"invert must have shape ({M},), not {invert.shape}")
            out = unsigned(M * thresholds.shape[1])
        else:
            if score_width is None or score_offsets is None or len(score_offsets) != M:
                raise ValueError("scores need a score_width and one score offset per channel")
            out = data.ArrayLayout(signed(score_width), M)
        self._thresholds, self._invert = thresholds, invert
        self._quotients = None
        if shared is not None and thresholds is not None:
            if self._scale == 0:
                raise ValueError("scale_count must not be 0 beside a shared count")
            self._quotients = quotient_thresholds(int(shared), self._scale, thresholds, N)
        self._score_scale, self._score_width = int(score_scale), score_width
        self._offsets = None if score_offsets is None else np.asarray(score_offsets, np.int64)
        super().__init__({"i": In(stream.Signature(unsigned(N))), "o": Out(stream.Signature(out))})

    def __repr__(self):
        M, N = self._literals.shape
        what = "scores" if self._thresholds is None else f"thresholds x{self._thresholds.shape[1]}"
        return (f"UnrolledDense({M}x{N}, {int(np.count_nonzero(self._literals))} literals, "
                f"shared={self._shared}, {what})")

    @property
    def counts_shared(self) -> bool:
        """Whether all inputs are counted besides the channels (not for ``shared == 0`` with
        thresholds: the comparisons are then on the channel counts alone)."""
        return self._shared is not None and not (self._quotients and self._quotients.constant_shared)

    def value_range(self) -> tuple[int, int]:
        """The smallest and largest channel value over every input (a channel of ``k`` literals
        counts ``0..k``, of which at most all, and the shared count adds ``0..N``)."""
        N = self._literals.shape[1]
        counts = np.count_nonzero(self._literals, axis=1)
        values = [self._scale * c for c in (0, int(counts.max()))]
        if self._shared is not None:
            values = [v + self._shared * p for v in values for p in (0, N)]
        return min(values), max(values)

    def elaborate(self, platform):
        m = Module()
        pipe = FreeRunningPipeline(m, self.i, self.o, "unrolled")
        x = pipe.stage(self.i.payload, "inputs")
        groups = [[x[n] if lit > 0 else ~x[n] for n, lit in enumerate(row) if lit] for row in self._literals]
        if self.counts_shared:
            groups.append([x[n] for n in range(len(x))])
        counts = count_groups(pipe, groups, schedule=UNROLLED_COUNT)
        if self._quotients is not None:
            pipe.finish(pipe.stage(self._compare_quotients(m, pipe, counts), "outputs"))
            return m
        lo, hi = self.value_range()
        if self._shared is None:
            values = counts
        else:
            *channel, total = counts
            combined = [Signal(range(lo, hi + 1), name=f"value{k}") for k in range(len(channel))]
            shared = times_constant(total, self._shared)
            m.d.comb += [v.eq(shared + times_constant(c, self._scale)) for v, c in zip(combined, channel)]
            held = pipe.stage(Cat(combined), "values")
            width = len(combined[0])
            values = [held[k * width:(k + 1) * width] for k in range(len(channel))]
            values = [v.as_signed() for v in values] if lo < 0 else values
        if self._thresholds is not None:
            result = Cat((value >= int(t)) ^ bool(inv) for value, row, inv in
                         zip(values, self._thresholds, self._invert) for t in row)
        else:
            scores = [Signal(signed(self._score_width), name=f"score{k}") for k in range(len(values))]
            m.d.comb += [score.eq(times_constant(value, self._score_scale) - int(off))
                         for score, value, off in zip(scores, values, self._offsets)]
            result = Cat(scores)
        pipe.finish(pipe.stage(result, "outputs"))
        return m

    def _compare_quotients(self, m, pipe, counts):
        """The output bits from the channel counts and the shared count (last of ``counts``): the
        division table read, its word registered (in the block RAM's output register), the quotients
        formed and registered, then each threshold one comparison of two counts. The caller
        registers the bits before the output FIFO: a quotient's route to its channels, their
        comparisons and the route on to the FIFO's LUT RAM took 11.59 ns in one cycle."""
        q = self._quotients
        if q.constant_shared:
            channel = counts
            y, s = (Const(v) for v in q.table[0])
        else:
            *channel, total = counts
            table = q.table
            y_width = max(max(y for y, _ in table), 1).bit_length()
            s_width = max(q.divisor - 1, 1).bit_length()
            m.submodules.division = rom = Memory(shape=unsigned(y_width + s_width), depth=len(table),
                                                 init=[y | s << y_width for y, s in table])
            port = rom.read_port()
            m.d.comb += port.addr.eq(total)
            channel = pipe.stage_values(channel, "counts_read")
            word, *channel = pipe.stage_values([port.data, *channel], "division")
            y, s = word[:y_width], word[y_width:]
        remainders = q.distinct_remainders
        quotients = [q.quotient(r, y, s) for r in remainders]
        if not q.constant_shared:
            held = pipe.stage_values([*quotients, *channel], "quotients")
            quotients, channel = held[:len(remainders)], held[len(remainders):]
        z_range = [q.quotient(r, *q.division([0, self._literals.shape[1]])) for r in remainders]
        lowest = {r: int(z.min()) for r, z in zip(remainders, z_range)}
        highest = {r: int(z.max()) for r, z in zip(remainders, z_range)}
        column = {r: k for k, r in enumerate(remainders)}
        counted = np.count_nonzero(self._literals, axis=1)
        bits = []
        for k, (count, offsets, rems, inv) in enumerate(zip(channel, q.offsets, q.remainders, self._invert)):
            for t, r in zip(offsets.tolist(), rems.tolist()):
                if t + highest[r] <= 0:
                    bit = Const(1)
                elif t + lowest[r] > counted[k]:
                    bit = Const(0)
                else:
                    bit = (count - quotients[column[r]]) >= t
                bits.append(bit ^ (bool(inv) != q.negate))
        return Cat(bits)



def sparse_unit(op, unrolled: bool, fold):
    """The unit of a :class:`~bnn_hw.compiler.ops.SparseDense` product: unrolled (each channel counts
    its beta positions, beside the shared count of all inputs), or the folded matrix-vector unit with
    the mask as its weights."""
    form = op.hardware_form()
    if unrolled:
        return UnrolledDense(op.mask, form.thresholds, form.invert, shared=form.a, scale_count=form.d,
                             score_scale=form.scale, score_offsets=form.offsets, score_width=op.score_width)
    from .mvu import MatrixVectorUnit
    return MatrixVectorUnit.for_sparse(op, form, fold)


@builds(ops.SparseDense)
def _sparse_dense(op, in_type, fold):
    return sparse_unit(op, op.is_unrolled(in_type, fold), fold)

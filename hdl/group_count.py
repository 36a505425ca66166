"""Counting the 1s of groups of bits side by side, pipelined: the group counts of a logic-gate
network's head and the per-channel counts of an unrolled dense layer.

Each group is cut into slices of :data:`~bnn_hw.compiler.microarch.GROUP_COUNT_SLICE` bits counted
by a lookup (one LUT4 per count bit), then the counts are added ``fanin`` at a time in balanced trees,
a register level after each step, as :func:`~bnn_hw.compiler.microarch.aligned_count_levels` plans
them for a :class:`~bnn_hw.compiler.microarch.CountSchedule` (the lookups registered first, or a
few of them added before the first register): groups that finish early carry their count on, so
all the counts of a word come out of the same register level.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const

from ..compiler.microarch import GATE_COUNT, GROUP_COUNT_SLICE, CountSchedule, aligned_count_levels, count_slices

__all__ = ["count_groups", "slice_count"]


def slice_count(bits):
    """The number of 1s among a few bits, as a lookup of every bit pattern's count: each count bit
    is one Boolean function of the slice (one LUT4 for a slice of four)."""
    n = len(bits)
    table = Cat(Const(bin(v).count("1"), n.bit_length()) for v in range(1 << n))
    return table.word_select(bits, n.bit_length())


def _balanced_sum(values):
    """The sum of ``values`` as a balanced tree of pairwise additions (log2 carry chains deep)."""
    while len(values) > 1:
        values = [values[j] + values[j + 1] if j + 1 < len(values) else values[j] for j in range(0, len(values), 2)]
    return values[0]


def count_groups(pipe, groups: list[list], name: str = "counts", schedule: CountSchedule = GATE_COUNT) -> list:
    """The count of 1s in each group of 1-bit values (a list per group, possibly empty), one register
    level of ``pipe`` (a :class:`~bnn_hw.hdl._free_running.FreeRunningPipeline`) per step of
    ``schedule``; returns one unsigned value per group (a constant 0 for an empty group)."""
    levels = aligned_count_levels([len(g) for g in groups], schedule)
    below = [count_slices(len(group)) if group else [] for group in groups]
    partial = [[slice_count(Cat(group[lo:lo + n])) for lo, n in zip(range(0, len(group), GROUP_COUNT_SLICE), slices)]
               for group, slices in zip(groups, below)]
    for depth, level in enumerate(levels):
        fanin = schedule.fanin if depth else schedule.first_fanin
        partial = [counts if level[g] == below[g] else
                   [_balanced_sum(counts[j:j + fanin])[:largest.bit_length()]
                    for j, largest in zip(range(0, len(counts), fanin), level[g])]
                   for g, counts in enumerate(partial)]
        below = level
        held = iter(pipe.stage_values([c for counts in partial for c in counts], f"{name}{depth}"))
        partial = [[next(held) for _ in counts] for counts in partial]
    return [counts[0] if counts else Const(0, 1) for counts in partial]

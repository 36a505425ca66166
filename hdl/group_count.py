"""Counting the 1s of groups of bits side by side, pipelined: the group counts of a logic-gate
network's head and the per-channel counts of an unrolled dense layer.

Each group is cut into slices of :data:`~bnn_hw.compiler.microarch.GROUP_COUNT_SLICE` bits counted
by a lookup (one LUT4 per count bit), then the counts are added
:data:`~bnn_hw.compiler.microarch.GROUP_COUNT_FANIN` at a time, a register level after each step, as
:func:`~bnn_hw.compiler.microarch.aligned_count_levels` plans them: groups that finish early carry
their count on, so all the counts of a word come out of the same register level.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const

from ..compiler.microarch import GROUP_COUNT_FANIN, GROUP_COUNT_SLICE, aligned_count_levels

__all__ = ["count_groups", "slice_count"]


def slice_count(bits):
    """The number of 1s among a few bits, as a lookup of every bit pattern's count: each count bit
    is one Boolean function of the slice (one LUT4 for a slice of four)."""
    n = len(bits)
    table = Cat(Const(bin(v).count("1"), n.bit_length()) for v in range(1 << n))
    return table.word_select(bits, n.bit_length())


def count_groups(pipe, groups: list[list], name: str = "counts") -> list:
    """The count of 1s in each group of 1-bit values (a list per group, possibly empty), one register
    level of ``pipe`` (a :class:`~bnn_hw.hdl._free_running.FreeRunningPipeline`) per step; returns
    one unsigned value per group (a constant 0 for an empty group)."""
    levels = aligned_count_levels([len(g) for g in groups])
    partial = [[slice_count(Cat(group[lo:lo + n])) for lo, n in zip(range(0, len(group), GROUP_COUNT_SLICE), counts)]
               for group, counts in zip(groups, levels[0] if levels else [[] for _ in groups])]
    for depth, level in enumerate(levels):
        if depth:
            partial = [counts if level[g] == levels[depth - 1][g] else
                       [sum(counts[j:j + GROUP_COUNT_FANIN])[:largest.bit_length()]
                        for j, largest in zip(range(0, len(counts), GROUP_COUNT_FANIN), level[g])]
                       for g, counts in enumerate(partial)]
        widths = [[largest.bit_length() for largest in counts] for counts in level]
        held = pipe.stage(Cat(*(c for counts in partial for c in counts)), f"{name}{depth}")
        # split the register back into each group's counts
        offsets = np.cumsum([0] + [w for group in widths for w in group]).tolist()
        k, split = 0, []
        for group in widths:
            split.append([held[offsets[k + j]:offsets[k + j + 1]] for j in range(len(group))])
            k += len(group)
        partial = split
    return [counts[0] if counts else Const(0, 1) for counts in partial]

"""Gate netlists: networks of two-input Boolean gates, their simplification and bit-sliced evaluation.

A gate applies one of the 16 two-input functions, named by its truth table (the order of the
differentiable logic-gate networks): ``f_c(a, b) = (c >> (2 * (1 - a) + (1 - b))) & 1``, so code 1 is
AND, 6 XOR, 7 OR, 14 NAND (:data:`FUNCTIONS`).

A :class:`Netlist` is flat: signals ``0 .. inputs - 1`` are its inputs and signal ``inputs + g`` is
gate ``g``'s output; a gate reads only signals before it. Its outputs are literals: a signal,
possibly inverted, or a constant. :func:`simplify` removes what costs logic for nothing: constant
gates and gates fed by constants, pass-through gates and inverters (absorbed into the gates that read
them), gates that read one signal twice, duplicates (structural hashing) and dead gates (no path to an
output). :meth:`Netlist.evaluate` computes 64 frames per machine word, level by level.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .ops._arrays import frozen_array

__all__ = ["FUNCTIONS", "truth_table", "Netlist", "layered_netlist", "simplify", "pack_frames", "unpack_frames",
           "count_groups"]

#: Names of the 16 functions, by code.
FUNCTIONS = ("false", "and", "a_and_not_b", "a", "not_a_and_b", "b", "xor", "or", "nor", "xnor", "not_b",
             "a_or_not_b", "not_a", "not_a_or_b", "nand", "true")

#: Output signal of a constant output literal (its inversion flag gives its value).
CONSTANT = -1


def truth_table(code: int) -> tuple[int, int, int, int]:
    """``(f(0,0), f(0,1), f(1,0), f(1,1))`` of function ``code``."""
    return tuple((code >> (2 * (1 - a) + (1 - b))) & 1 for a in (0, 1) for b in (0, 1))


def _code(table) -> int:
    """The code of the function with truth table ``(f(0,0), f(0,1), f(1,0), f(1,1))``."""
    return sum(bit << (3 - i) for i, bit in enumerate(table))


def _bits(code: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Function ``code`` on bit-sliced words (any unsigned integer dtype), a new array."""
    ones = ~np.zeros_like(a)
    return {0: lambda: np.zeros_like(a), 1: lambda: a & b, 2: lambda: a & ~b, 3: lambda: a.copy(),
            4: lambda: ~a & b, 5: lambda: b.copy(), 6: lambda: a ^ b, 7: lambda: a | b, 8: lambda: ~(a | b),
            9: lambda: ~(a ^ b), 10: lambda: ~b, 11: lambda: a | ~b, 12: lambda: ~a, 13: lambda: ~a | b,
            14: lambda: ~(a & b), 15: lambda: ones.copy()}[code]()


@dataclass(frozen=True, eq=False)
class Netlist:
    """A flat gate netlist (see the module docstring for the signal numbering)."""

    inputs: int               #: input bits
    a: np.ndarray             #: (G,) the signal each gate reads as ``a``
    b: np.ndarray             #: (G,) the signal it reads as ``b``
    code: np.ndarray          #: (G,) its function
    outputs: np.ndarray       #: (O,) the signal of each output literal, :data:`CONSTANT` for a constant
    inverted: np.ndarray      #: (O,) 1 where the output is that signal (or constant 0) inverted

    def __post_init__(self):
        for name, dtype in (("a", np.int64), ("b", np.int64), ("code", np.uint8), ("outputs", np.int64),
                            ("inverted", np.uint8)):
            object.__setattr__(self, name, frozen_array(np.asarray(getattr(self, name)).reshape(-1), dtype))
        gates = len(self.code)
        if not len(self.a) == len(self.b) == gates or len(self.inverted) != len(self.outputs):
            raise ValueError("a netlist's gate and output arrays must have matching lengths")
        if self.inputs < 0 or (self.code > 15).any():
            raise ValueError("function codes are 0..15 and the input count is not negative")
        own = self.inputs + np.arange(gates)
        if gates and ((self.a < 0) | (self.a >= own) | (self.b < 0) | (self.b >= own)).any():
            raise ValueError("a gate may read only the inputs and the gates before it")
        if ((self.outputs < CONSTANT) | (self.outputs >= self.inputs + gates)).any():
            raise ValueError("an output names a signal the netlist does not have")
        if ((self.inverted != 0) & (self.inverted != 1)).any():
            raise ValueError("output inversion flags are 0 or 1")

    @property
    def gates(self) -> int:
        return len(self.code)

    @cached_property
    def depth(self) -> np.ndarray:
        """Gate levels from the inputs to each signal (inputs 0, a gate one more than its deeper input)."""
        depth = np.zeros(self.inputs + self.gates, np.int64)
        for g in range(self.gates):
            depth[self.inputs + g] = 1 + max(depth[self.a[g]], depth[self.b[g]])
        depth.setflags(write=False)
        return depth

    @property
    def levels(self) -> int:
        """Gate levels on the longest path (0 without gates)."""
        return int(self.depth.max(initial=0))

    @cached_property
    def last_use(self) -> np.ndarray:
        """The level of the deepest gate reading each signal (``levels + 1`` for an output, 0 if unread)."""
        last = np.zeros(self.inputs + self.gates, np.int64)
        np.maximum.at(last, self.a, self.depth[self.inputs:])
        np.maximum.at(last, self.b, self.depth[self.inputs:])
        last[self.outputs[self.outputs != CONSTANT]] = self.levels + 1
        last.setflags(write=False)
        return last

    def cuts(self, levels_per_stage: int) -> list[tuple[int, np.ndarray]]:
        """Where a pipeline registers the netlist: after every ``levels_per_stage`` gate levels and
        after the last, ``(level, signals)`` with the signals computed by then and read later."""
        cut_levels = sorted({*range(levels_per_stage, self.levels, levels_per_stage), self.levels} - {0})
        return [(level, np.flatnonzero((self.depth <= level) & (self.last_use > level))) for level in cut_levels]

    def functions(self) -> Counter:
        """Gates by function name."""
        return Counter(FUNCTIONS[c] for c in self.code)

    def leveled(self) -> "Netlist":
        """The same netlist with its gates renumbered by ``(level, function)``, the order in which
        :meth:`evaluate` computes them level by level, a function at a time."""
        order = np.lexsort((self.code, self.depth[self.inputs:]))
        if (order == np.arange(self.gates)).all():
            return self
        new = np.concatenate([np.arange(self.inputs), self.inputs + np.argsort(order)])
        outputs = np.where(self.outputs == CONSTANT, CONSTANT, new[np.maximum(self.outputs, 0)])
        return Netlist(self.inputs, new[self.a[order]], new[self.b[order]], self.code[order], outputs, self.inverted)

    @cached_property
    def _schedule(self):
        """Per level, ``(first, last, a, b, [(code, lo, hi)])`` over the gates of :meth:`leveled`."""
        net = self.leveled()
        depth = net.depth[net.inputs:]
        schedule = []
        for level in range(1, net.levels + 1):
            lo, hi = np.searchsorted(depth, [level, level + 1])
            codes = net.code[lo:hi]
            runs = []
            for code in np.unique(codes):
                c_lo, c_hi = np.searchsorted(codes, [code, code + 1])
                runs.append((int(code), int(c_lo), int(c_hi)))
            schedule.append((net.inputs + int(lo), net.inputs + int(hi), net.a[lo:hi], net.b[lo:hi], runs))
        return net, schedule

    def evaluate(self, words: np.ndarray) -> np.ndarray:
        """The output literals for bit-sliced inputs: ``words`` is ``(inputs, W)`` unsigned integers
        holding bit ``f`` of each input row for frame ``f``; returns ``(outputs, W)`` alike."""
        words = np.asarray(words)
        if words.ndim != 2 or words.shape[0] != self.inputs:
            raise ValueError(f"expected ({self.inputs}, W) input words, not {words.shape}")
        net, schedule = self._schedule
        signals = np.empty((net.inputs + net.gates, words.shape[1]), words.dtype)
        signals[:net.inputs] = words
        for first, _, a, b, runs in schedule:
            left, right = signals[a], signals[b]
            for code, lo, hi in runs:
                signals[first + lo:first + hi] = _bits(code, left[lo:hi], right[lo:hi])
        out = np.zeros((len(net.outputs), words.shape[1]), words.dtype)
        driven = net.outputs != CONSTANT
        out[driven] = signals[net.outputs[driven]]
        return np.where(net.inverted[:, None].astype(bool), ~out, out)

    def __call__(self, bits: np.ndarray) -> np.ndarray:
        """The outputs (0/1 ``uint8``, ``(batch, outputs)``) for a batch of input bits ``(batch, inputs)``."""
        bits = np.asarray(bits, np.uint8)
        return unpack_frames(self.evaluate(pack_frames(bits)), len(bits))


def pack_frames(bits: np.ndarray) -> np.ndarray:
    """``(frames, n)`` 0/1 values to ``(n, ceil(frames / 64))`` uint64 words, frame ``f`` in bit
    ``f % 64`` of word ``f // 64`` (zero padded)."""
    bits = np.asarray(bits, np.uint8)
    frames = bits.shape[0]
    rows = np.zeros((bits.shape[1], -(-frames // 64) * 64), np.uint8)
    rows[:, :frames] = bits.T          # one transposing copy, then packing along contiguous rows
    return np.packbits(rows, axis=1, bitorder="little").view(np.uint64)


def count_groups(words: np.ndarray, groups: int, frames: int) -> np.ndarray:
    """``(frames, groups)`` counts of the 1 bits in each of ``groups`` equal consecutive groups of the
    rows of bit-sliced ``words`` (``(rows, W)``): added row by row into bit-sliced binary counters
    (a ripple of half adders on whole words), so only the counters' few planes are unpacked."""
    rows, width = words.shape
    per_group = words.reshape(groups, rows // groups, width).transpose(1, 0, 2)   # (group size, groups, W)
    size = rows // groups
    planes = [np.zeros((groups, width), words.dtype) for _ in range(size.bit_length())]
    for j, row in enumerate(per_group):
        carry = row
        for k in range((j + 1).bit_length()):      # a count of j + 1 bits needs no higher plane
            planes[k], carry = planes[k] ^ carry, planes[k] & carry
    counts = np.zeros((groups, frames), np.int64)
    for k, plane in enumerate(planes):
        if plane.any():
            counts += unpack_frames(plane, frames).T.astype(np.int64) << k
    return counts.T


def unpack_frames(words: np.ndarray, frames: int) -> np.ndarray:
    """The inverse of :func:`pack_frames`: ``(frames, n)`` 0/1 ``uint8``."""
    words = np.ascontiguousarray(words, np.uint64)
    bits = np.unpackbits(words.view(np.uint8), axis=1, bitorder="little")
    return np.ascontiguousarray(bits[:, :frames].T)


def layered_netlist(inputs: int, layers) -> Netlist:
    """The netlist of a stack of gate layers: layer ``k`` is ``(a, b, code)`` arrays whose indices
    name outputs of layer ``k - 1`` (layer 0: the inputs); the outputs are the last layer's gates."""
    a_all, b_all, codes = [], [], []
    base, width, start = 0, inputs, inputs
    for a, b, code in layers:
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= width):
            raise ValueError(f"a gate reads input {int(max(a.max(), b.max()))}, but the layer before has "
                             f"only {width} outputs")
        a_all.append(a + base)
        b_all.append(b + base)
        codes.append(np.asarray(code, np.int64))
        base, width = start, len(a)
        start += len(a)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
    return Netlist(inputs, cat(a_all), cat(b_all), cat(codes), np.arange(base, base + width),
                   np.zeros(width, np.uint8))


def simplify(net: Netlist) -> Netlist:
    """An equivalent netlist without constant, pass-through, inverter, duplicate or dead gates.

    Each signal becomes a literal ``(source, inverted)`` (source :data:`CONSTANT` for a constant); a
    gate whose function, after its inputs' inversions are folded into it, depends on fewer than two
    distinct sources becomes a literal too; the rest are hashed so that equal gates are built once.
    """
    literal = [(i, 0) for i in range(net.inputs)]
    a_new, b_new, code_new = [], [], []
    seen: dict[tuple[int, int, int], int] = {}
    for a, b, code in zip(net.a.tolist(), net.b.tolist(), net.code.tolist()):
        table = truth_table(code)
        (sa, ia), (sb, ib) = literal[a], literal[b]
        # the truth table over the sources' values: input inversions (and constants) folded in
        h = [table[2 * (x ^ ia) + (y ^ ib)] for x in (0, 1) for y in (0, 1)]
        if sa == CONSTANT:                  # a constant's "source" is 0 (its value is its inversion)
            h = [h[0], h[1], h[0], h[1]]
        if sb == CONSTANT:
            h = [h[0], h[0], h[2], h[2]]
        if sa == sb:                        # one source read twice (or two constants)
            h = [h[0], h[0], h[3], h[3]]
        if h[0] == h[1] == h[2] == h[3]:
            literal.append((CONSTANT, h[0]))
            continue
        if h[0] == h[1] and h[2] == h[3]:   # depends on a's source alone: that source or its inverse
            literal.append((sa, h[0]))
            continue
        if h[0] == h[2] and h[1] == h[3]:   # depends on b's source alone
            literal.append((sb, h[0]))
            continue
        if sa > sb:                         # one input order, so that equal gates hash alike
            sa, sb, h = sb, sa, [h[0], h[2], h[1], h[3]]
        flip = h[0]                         # keep f(0, 0) = 0; an inverted output folds into its readers
        key = (sa, sb, _code([v ^ flip for v in h]))
        if key not in seen:
            seen[key] = len(code_new)
            a_new.append(sa)
            b_new.append(sb)
            code_new.append(key[2])
        literal.append((net.inputs + seen[key], flip))
    outputs = [literal[s] if s != CONSTANT else (CONSTANT, 0) for s in net.outputs.tolist()]
    out_sig = [s for s, _ in outputs]
    out_inv = [i ^ int(x) for (_, i), x in zip(outputs, net.inverted.tolist())]
    return _without_dead(Netlist(net.inputs, a_new, b_new, code_new, out_sig, out_inv))


def _without_dead(net: Netlist) -> Netlist:
    live = np.zeros(net.inputs + net.gates, bool)
    live[net.outputs[net.outputs != CONSTANT]] = True
    for g in range(net.gates - 1, -1, -1):
        if live[net.inputs + g]:
            live[net.a[g]] = live[net.b[g]] = True
    keep = live[net.inputs:]
    new = np.full(net.inputs + net.gates, CONSTANT, np.int64)
    new[:net.inputs] = np.arange(net.inputs)
    new[net.inputs:][keep] = net.inputs + np.arange(int(keep.sum()))
    outputs = np.where(net.outputs == CONSTANT, CONSTANT, new[np.maximum(net.outputs, 0)])
    return Netlist(net.inputs, new[net.a[keep]], new[net.b[keep]], net.code[keep], outputs, net.inverted)

"""The micro-architecture the compiler plans with: facts of the hardware's structure, as numbers and
pure functions.

How a matrix-vector unit slices, sums and banks (:data:`POPCOUNT_CHUNK`, :data:`SUM_GROUP`,
:data:`MAC_CHUNK`, :func:`rom_bank_depth`, :func:`dot_bound`), which rows a window generator keeps and
how far it runs ahead (:func:`line_buffer_rows`, :func:`pixels_needed`, :func:`pixels_accepted`), how
a gearbox converts widths (:func:`repack_mode` ...) and how wide the result word's class index is
(:func:`index_width`). The compiler's type, cycle, FIFO-depth and cost models read them, and the
components of :mod:`bnn_hw.hdl` import them from here and are built to them: the plan comes first in
the data flow, so its facts live in the compiler, and plan and hardware cannot disagree.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ..intmath import ceil_div, signed_width

__all__ = ["POPCOUNT_CHUNK", "SUM_GROUP", "MAC_CHUNK", "GROUP_COUNT_SLICE", "group_count_levels",
           "CountSchedule", "GATE_COUNT", "UNROLLED_COUNT", "count_slices", "balanced_sum_bits",
           "aligned_count_levels", "unrolled_cost", "UnrolledCost", "naf",
           "element_range", "dot_bound", "mac_sum_bits", "rom_bank_depth", "rom_slices",
           "line_buffer_rows", "window_out_size", "window_row_span", "pixels_needed", "pixels_accepted",
           "repack_mode", "last_word_bits", "continuous_words", "deserializer_realigns", "shift_buffer_geometry",
           "index_width"]

# -- the matrix-vector unit (bnn_hw.hdl.mvu) --------------------------------------------------------

#: The popcount of a ``simd``-bit word is pipelined: slices of this many bits (or, with +-1 weights,
#: multi-bit elements), then their sum.
POPCOUNT_CHUNK = 16
#: At most this many slice popcounts are added in one cycle; more are summed in groups first (a
#: 192-bit word's 12 slices in one adder tree held the CNN's clock at 96 MHz).
SUM_GROUP = 4
#: With multi-bit weights each bit plane sums slices of this many multi-bit elements, then the slice
#: sums SUM_GROUP at a time, one registered level each (16 10-bit values in one cycle held the
#: Bi-Real example's 1x1 convolution at 78 MHz).
MAC_CHUNK = 4


def element_range(element_width: int, signed_elements: bool) -> tuple[int, int]:
    """The smallest and largest multi-bit element: two's complement or unsigned."""
    if signed_elements:
        return -(1 << (element_width - 1)), (1 << (element_width - 1)) - 1
    return 0, (1 << element_width) - 1


def dot_bound(n: int, element_width: int, signed_elements: bool, weight_bits: int) -> int:
    """The largest magnitude of a dot product of ``n`` multi-bit elements with weights: ``n`` times
    the largest element magnitude times the largest weight magnitude (1 for +-1 weights)."""
    element = max(map(abs, element_range(element_width, signed_elements)))
    return n * element * (1 << (weight_bits - 1))


def mac_sum_bits(simd: int, lo: int, hi: int) -> int:
    """Register bits of one bit plane's sums (or, multiplied, one lane's products' sums) of a word of
    ``simd`` values in ``lo..hi`` in the multiply-accumulate datapath: the slices of MAC_CHUNK values,
    then their sums SUM_GROUP at a time, a registered level each, until one sum is left."""
    counts, bits = [min(MAC_CHUNK, simd - s) for s in range(0, simd, MAC_CHUNK)], 0
    while True:
        bits += sum(signed_width(min(lo, 0) * n, hi * n) if lo < 0 else max(1, (hi * n).bit_length()) for n in counts)
        if len(counts) == 1:
            return bits
        counts = [sum(counts[g:g + SUM_GROUP]) for g in range(0, len(counts), SUM_GROUP)]


#: ECP5 DP16KD depth at each narrow port width; 512 words at 36 bits and wider.
_BLOCK_DEPTH_BY_WIDTH = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024))


def rom_bank_depth(width: int) -> int:
    """Words per bank of a ``width``-bit weight ROM: one ECP5 DP16KD deep at the narrowest aspect
    ratio that holds the word (512 words at 36 bits and wider, 8,192 at 2 bits). Deeper ROMs are
    split into banks, each registered at its block RAM. Banking a narrow ROM at 512 words instead
    made yosys build the small banks from LUTs (the CNN's 2-bit dense17: 535 LUT4, no block RAM)."""
    return next((depth for w, depth in _BLOCK_DEPTH_BY_WIDTH if width <= w), 512)


def rom_slices(width: int, depth: int) -> tuple[int, ...]:
    """The widths of the bit slices a ``width`` x ``depth`` table ROM is built from, each banked at
    its own :func:`rom_bank_depth`: the whole width while it fits one bank; deeper, the slicing that
    takes the fewest block RAMs per word (then the fewest slices). A 6-bit table is 4 + 2 bits
    (4,096 and 8,192 words per block) rather than 6 bits in 2,048 x 9 blocks, a third fewer blocks:
    the 85F BNext-style example's tables of 96 channels by 865 scores took 41 blocks each, 32 sliced."""
    if depth <= rom_bank_depth(width):
        return (width,)
    units = {w: 16384 // d for w, d in _BLOCK_DEPTH_BY_WIDTH} | {36: 32}   # blocks per 16,384 words
    best: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ())]   # (blocks, slices, widths) per width
    for w in range(1, width + 1):
        best.append(min((blocks + u, count + 1, widths + (min(cw, w),))
                        for cw, u in units.items() for blocks, count, widths in [best[max(0, w - cw)]]))
    return tuple(sorted(best[width][2], reverse=True))


# -- group counts (bnn_hw.hdl.group_count): a gate network's GroupSum, an unrolled layer's channels ---

#: Counts begin with slices of this many bits, each count bit one LUT4 of the slice's bits (one logic
#: level). Compressor-tree slices of POPCOUNT_CHUNK bits, a register before and after each, held the
#: shipped logic network at 109 MHz on the 85F: the slice's carry chains alone took 9.1 ns.
GROUP_COUNT_SLICE = 4


class CountSchedule(NamedTuple):
    """How a group count is pipelined: ``first_fanin`` slice lookups added before the first register
    (1: every lookup registered), then ``fanin`` counts added per register level (a balanced tree of
    short carry chains)."""

    fanin: int
    first_fanin: int


#: A logic-gate network's GroupSum: every lookup registered, then two counts added per level.
GATE_COUNT = CountSchedule(fanin=2, first_fanin=1)
#: An unrolled dense layer's channels: two lookups added before the first register, then four counts
#: per level. Registering every step held the example's unrolled sparse network at 57,069 flip-flops
#: (68% of the 85F), and nextpnr's placer did not finish its first iteration in 15 minutes; four
#: lookups added before the first register (28,994 FF) left five LUT levels after the input's route,
#: 10.31 ns in the build with the second layer unrolled.
UNROLLED_COUNT = CountSchedule(fanin=4, first_fanin=2)


def count_slices(bits: int) -> list[int]:
    """The slices a count of ``bits`` bits begins with (:data:`GROUP_COUNT_SLICE` bits, the last fewer)."""
    return [min(GROUP_COUNT_SLICE, bits - lo) for lo in range(0, bits, GROUP_COUNT_SLICE)]


def _sums(counts: list[int], fanin: int) -> list[int]:
    return [sum(counts[j:j + fanin]) for j in range(0, len(counts), fanin)]


def group_count_levels(bits: int, schedule: CountSchedule = GATE_COUNT) -> list[list[int]]:
    """The register levels of counting ``bits`` bits: level 0 holds the sums of ``first_fanin`` slice
    counts (each slice's count when it is 1), each next level the sums of ``fanin`` counts
    of the level before, the last one count. Each entry is the largest value that count can take
    (its register is that many bits wide)."""
    if bits < 1:
        raise ValueError(f"a group count needs at least one bit, not {bits}")
    slices = count_slices(bits)
    levels = [_sums(slices, schedule.first_fanin)]
    while len(levels[-1]) > 1:
        levels.append(_sums(levels[-1], schedule.fanin))
    return levels


def aligned_count_levels(groups: list[int], schedule: CountSchedule = GATE_COUNT) -> list[list[list[int]]]:
    """:func:`group_count_levels` of several groups of bits counted side by side (a channel's mask
    bits each), padded to the same number of register levels: a group whose count is done early
    carries it on, registered, so that every count of a word arrives together. ``levels[depth][g]`` is
    group ``g``'s counts at that level (empty for a group of no bits, whose count is 0)."""
    per_group = [group_count_levels(n, schedule) if n else [] for n in groups]
    depth = max((len(levels) for levels in per_group), default=0)
    return [[levels[min(d, len(levels) - 1)] if levels else [] for levels in per_group] for d in range(depth)]


def balanced_sum_bits(counts: list[int]) -> int:
    """LUT4 of summing counts whose largest values are ``counts`` in a balanced tree of pairs: one
    (half a CCU2C) per bit of each partial sum and one more for its carry chain's end. Checked by
    ``benchmarks/unrolled_cost.py``: without the one more, the model said 23,363 LUT4 for an unrolled
    sparse layer that measured 28,746."""
    bits = 0
    while len(counts) > 1:
        pairs = [counts[j:j + 2] for j in range(0, len(counts), 2)]
        bits += sum(sum(pair).bit_length() + 1 for pair in pairs if len(pair) == 2)
        counts = [sum(pair) for pair in pairs]
    return bits


class UnrolledCost(NamedTuple):
    """The estimate of an unrolled dense unit (:func:`unrolled_cost`)."""

    lut4: int
    ff: int
    latency: int     #: cycles from an input word to its result in the output FIFO
    ebr: int = 0     #: block RAMs (the shared count's division table)

    def cost(self, binary_ops: int, weight_bits: int) -> "Cost":
        from .cost import Cost
        return Cost(cycles=1, lut4=self.lut4, ff=self.ff, ebr=self.ebr, weight_bits=weight_bits,
                    binary_ops=binary_ops)


def _count_cost(groups: list[int], schedule: CountSchedule, lookup_share: float = 1.0) -> tuple[int, int, int]:
    """LUT4, flip-flops and register levels of counting groups of ``groups`` bits side by side
    (:func:`aligned_count_levels`): a lookup per count bit of each slice (of which ``lookup_share``
    are distinct), the adder bits of each level's balanced sums (:func:`balanced_sum_bits`), every
    level's counts registered."""
    levels = aligned_count_levels(groups, schedule)
    below = [count_slices(n) if n else [] for n in groups]
    lookups = sum(c.bit_length() for slices in below for c in slices) * lookup_share
    lut4, ff = lookups, 0.0
    for depth, level in enumerate(levels):
        for counts, before in zip(level, below):
            if depth == 0 and schedule.first_fanin == 1:
                ff += sum(c.bit_length() for c in counts) * lookup_share
                continue
            ff += sum(c.bit_length() for c in counts)
            fanin = schedule.first_fanin if depth == 0 else schedule.fanin
            if counts != before:
                lut4 += sum(balanced_sum_bits(before[j:j + fanin]) for j in range(0, len(before), fanin))
        below = level
    return round(lut4), round(ff), len(levels)


def naf(k: int) -> list[tuple[int, int]]:
    """The non-adjacent form of ``k >= 0``: ``(shift, +1 or -1)`` for each non-zero digit (a digit in
    three is non-zero on average). A product by the constant ``k`` is built as that many shifted
    terms (:func:`bnn_hw.hdl._arith.times_constant`)."""
    digits, shift = [], 0
    while k:
        if k & 1:
            digit = 2 - (k & 3)     # +1 if k % 4 == 1, -1 if k % 4 == 3
            digits.append((shift, digit))
            k -= digit
        k >>= 1
        shift += 1
    return digits


def unrolled_cost(n_inputs: int, counted: list[int], shared: bool, slices: int,
                  score_width: int | None = None, *, quotients: int = 0, scale_digits: int = 1) -> UnrolledCost:
    """Estimated cost of an unrolled dense unit: the input word registered, each channel's ``counted``
    bits counted (``N`` literals for a binary layer; a sparse layer's mask bits, with the count of all
    ``n_inputs`` bits ``shared`` by the channels), then the outputs, registered, and the output FIFO.
    One LUT4 per bit of every sum and comparison (carry chains).

    The outputs: ``slices`` comparisons per channel against constants; with a shared count, each a
    comparison of the channel's count with one of ``quotients`` quotients of the shared count, which
    a block RAM table divides (:mod:`~bnn_hw.compiler.quotient_thresholds`: three more register
    levels); scores of ``score_width`` bits (``slices`` 0), with a shared count each channel's
    ``a p0 + d p1`` first (``scale_digits`` shifted terms for ``d p1``)."""
    channels = len(counted)
    # A binary layer's channels all count the same slices of the inputs, each slice's four bits as
    # they are or inverted: 16 patterns, so yosys merges the lookups of channels with the same one
    # (measured on a 64x64 layer: 5,685 LUT4, this model without the merging said 8,264).
    share = 1.0 if shared else min(1.0, 16 * (1 - (15 / 16) ** channels) / channels)
    lut4, ff, depth = _count_cost(list(counted) + ([n_inputs] if shared else []), UNROLLED_COUNT, share)
    count_bits = sum(max(c, 1).bit_length() for c in counted)
    count_width = max(max(counted, default=0), 1).bit_length()
    stages, ebr = 1 + depth, 0
    if shared and slices:
        quotient_width = max(n_inputs, 1).bit_length()
        lut4 += quotients * 2 * quotient_width + channels * slices * 2 * (count_width + 1)
        ff += 3 * count_bits + quotients * quotient_width
        stages, ebr = stages + 3, 1
    elif shared:
        value_width = max(n_inputs, 1).bit_length() + 4
        lut4 += channels * value_width * scale_digits
        ff += channels * value_width
        stages += 1
    if not shared or not slices:
        lut4 += channels * (count_width + 1) * max(slices, 1)
    out_bits = channels * (slices if slices else score_width)
    # the outputs registered, then the output FIFO (stages + 4 words): LUT RAM and its registered output
    lut4 += ceil_div(out_bits * 3, 2) + 40
    ff += n_inputs + 3 * out_bits + 40
    return UnrolledCost(lut4, ff, stages + 3, ebr)


# -- the sliding-window generator (bnn_hw.hdl.sliding_window) ---------------------------------------

def line_buffer_rows(kernel: int, stride: int, height: int) -> int:
    """Image rows the generator keeps: the ``kernel`` rows of a window plus ``stride`` rows that the
    producer fills while the windows of the current output row are read (at most the image)."""
    return min(kernel + stride, height)


def window_out_size(size, kernel, stride, padding):
    """Output positions along one side of ``size`` input positions."""
    return (size + 2 * padding - kernel) // stride + 1


def window_row_span(oy, height, kernel, stride, padding):
    """``(lo, hi, next_lo)``: the image rows ``lo..hi`` that output row ``oy`` waits for (all the
    rest of the frame for the last output row, so that they are released together), and the first
    row the next output row needs."""
    top = oy * stride - padding
    lo, next_lo = max(top, 0), max(top + stride, 0)
    last = oy == window_out_size(height, kernel, stride, padding) - 1
    hi = height - 1 if last else max(min(top + kernel - 1, height - 1), next_lo - 1)
    return lo, hi, next_lo


def _output_row_span(height, width, kernel, stride, padding, n):
    """``(frame, window_row_span(...))`` of the output row holding the ``n``-th output pixel (from
    1), frames counted from 0."""
    frame, oy = divmod((n - 1) // window_out_size(width, kernel, stride, padding),
                       window_out_size(height, kernel, stride, padding))
    return frame, window_row_span(oy, height, kernel, stride, padding)


def pixels_needed(height, width, kernel, stride, padding, n):
    """Input pixels a :class:`~bnn_hw.hdl.SlidingWindow` must have taken before it gives the window of
    its ``n``-th output pixel (counting from 1): the whole of every image row that window's output
    row waits for."""
    frame, (_, hi, _) = _output_row_span(height, width, kernel, stride, padding, n)
    return (frame * height + hi + 1) * width


def pixels_accepted(height, width, kernel, stride, padding, n):
    """The most input pixels a :class:`~bnn_hw.hdl.SlidingWindow` takes before it gives the window of
    its ``n``-th output pixel (counting from 1): its line buffer fills up from the first row that
    window's output row needs (the producer may run this far ahead of the windows)."""
    frame, (lo, _, _) = _output_row_span(height, width, kernel, stride, padding, n)
    return (frame * height + lo + line_buffer_rows(kernel, stride, height)) * width


# -- the gearbox (bnn_hw.hdl.repack) -----------------------------------------------------------------

def last_word_bits(vector_bits, width):
    """Real bits in the last ``width``-bit word of a ``vector_bits``-bit vector."""
    return vector_bits - (ceil_div(vector_bits, width) - 1) * width


def repack_mode(vector_bits, in_width, out_width, out_vector_bits=None) -> str:
    """How :class:`~bnn_hw.hdl.Repack` converts these widths: ``"serialize"`` (input words hold whole
    output words), ``"deserialize"`` (output words hold whole input words: vectors kept, or every
    input and output word full, so the bits are one continuous stream) or ``"shift"`` (a shift
    buffer)."""
    out_vector_bits = vector_bits if out_vector_bits is None else out_vector_bits
    if vector_bits == out_vector_bits and in_width > out_width and in_width % out_width == 0:
        return "serialize"
    if out_width > in_width and out_width % in_width == 0 and (
            (vector_bits == out_vector_bits and ceil_div(vector_bits, in_width) >= 2)
            or continuous_words(vector_bits, in_width, out_width, out_vector_bits)):
        return "deserialize"
    return "shift"


def continuous_words(vector_bits, in_width, out_width, out_vector_bits) -> bool:
    """Whether every input and every output word is full, so vector boundaries do not matter."""
    return vector_bits % in_width == 0 and out_vector_bits % out_width == 0


def deserializer_realigns(vector_bits, in_width, out_width, out_vector_bits=None) -> bool:
    """Whether the deserialiser shifts a vector's last output word down (it fills that word only in
    part): the multiplexer its cost counts per output bit."""
    out_vector_bits = vector_bits if out_vector_bits is None else out_vector_bits
    return (not continuous_words(vector_bits, in_width, out_width, out_vector_bits)
            and ceil_div(vector_bits, in_width) % (out_width // in_width) != 0)


def shift_buffer_geometry(vector_bits, in_width, out_width, out_vector_bits=None) -> tuple[int, int]:
    """``(capacity, unit)`` of the shift buffer: its bits, and the gcd of all word sizes that every
    fill level is a multiple of."""
    out_vector_bits = vector_bits if out_vector_bits is None else out_vector_bits
    capacity = in_width + out_width + max(in_width, out_width)
    return capacity, math.gcd(in_width, out_width, last_word_bits(vector_bits, in_width),
                              last_word_bits(out_vector_bits, out_width))


# -- the classification head (bnn_hw.hdl.argmax) -----------------------------------------------------

def index_width(classes: int) -> int:
    """Bits of a class index among ``classes``."""
    return max(1, (classes - 1).bit_length())

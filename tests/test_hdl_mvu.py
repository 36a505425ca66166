import random

import numpy as np
import pytest

from bnn_hw.hdl import MatrixVectorUnit
from bnn_hw.compiler.microarch import MAC_CHUNK, POPCOUNT_CHUNK, SUM_GROUP, rom_bank_depth
from bnn_hw.hdl.mvu_mac import MacDatapath
from bnn_hw.hdl.mvu_popcount import PopcountDatapath
from stream_testing import assert_rejects, elaborated, pack_bits, pack_lanes, stream_through


def ref_popcounts(W, x):
    """p[m] = popcount(xnor(x, W[m])) over the N real bits."""
    xnor = (1 - (W ^ x)).astype(np.uint8)
    return np.bitwise_count(np.packbits(xnor, axis=1)).sum(axis=1).astype(np.int64)


def ref_words(W, T, x, pe):
    """Expected output words (raw ints) for one input vector."""
    M, N = W.shape
    p = ref_popcounts(W, x)
    NF = -(-M // pe)
    words = []
    for nf in range(NF):
        if T is None:
            sw = N.bit_length() + 1
            lanes = [2 * p[m] - N if m < M else 0 for m in range(nf * pe, (nf + 1) * pe)]
            words.append(pack_lanes(lanes, sw))
        else:
            K = T.shape[1]
            bits = []
            for m in range(nf * pe, (nf + 1) * pe):
                bits.extend(int(m < M and p[m] >= T[m, j]) for j in range(K))
            words.append(pack_lanes(bits, 1))
    return words


def make_case(M, N, K, nvec, seed):
    rng = np.random.default_rng(seed)
    W = rng.integers(0, 2, size=(M, N)).astype(np.uint8)
    X = rng.integers(0, 2, size=(nvec, N)).astype(np.uint8)
    if K is None:
        return W, None, X
    p0 = ref_popcounts(W, X[0])
    T = np.empty((M, K), dtype=np.int64)
    for m in range(M):
        candidates = [-2**31, -3, 0, p0[m], p0[m] + 1, N, N + 1, 2**31 - 1,
                      rng.integers(0, N + 1), rng.integers(0, N + 1)]
        T[m] = np.sort(rng.choice(candidates, size=K, replace=K > len(candidates)))
    # make sure the special values occur somewhere regardless of the draw
    specials = [0, int(p0[0]), N, N + 1, -7]
    T[0, :min(K, len(specials))] = specials[:K]
    T.sort(axis=1)
    return W, T, X


def input_words(X, simd, seed=7):
    """Pack vectors into simd-bit words, with garbage in the padding bits."""
    garbage = random.Random(seed)
    N = X.shape[1]
    words = []
    for x in X:
        ws = pack_bits(x, simd)
        if N % simd:
            ws[-1] |= garbage.getrandbits(simd - N % simd) << (N % simd)
        words.extend(ws)
    return words


def simulate(dut, X, stall, seed=0, stamps=None):
    simd = dut.simd
    inputs = input_words(X, simd)
    count = dut.nf * len(X)
    got = stream_through(dut, inputs, count, stall=stall, seed=seed, stamps=stamps)
    return got


GEOMETRIES = [
    # M, N, pe, simd
    (11, 37, 4, 8),
    (10, 100, 3, 7),
    (3, 9, 1, 1),
    (3, 20, 5, 6),     # pe > M
    (4, 5, 2, 8),      # simd > N
    (4, 16, 4, 16),    # one word in, one word out
    (6, 24, 3, 8),     # dividing sizes
    (2, 2, 6, 4),      # pe > M and simd > N: padding rows must not overflow the accumulator
    (5, 300, 2, 96),   # 6 popcount slices: summed in groups of SUM_GROUP first
    (3, 200, 1, 200),  # 13 slices, the last group a single one
    (3, 600, 2, 1),    # a 1,200-word 2-bit weight ROM: one bank (8,192 words at 2 bits)
    (26, 720, 1, 36),  # a 520-word 36-bit weight ROM: banks of 512 words, the last one short
]


@pytest.mark.parametrize("M,N,pe,simd", GEOMETRIES)
@pytest.mark.parametrize("K", [None, 1, 3])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_mvu(M, N, pe, simd, K, stall):
    nvec = 5
    W, T, X = make_case(M, N, K, nvec, seed=M * 100 + N + (K or 0))
    dut = MatrixVectorUnit(W, T, pe, simd)
    got = simulate(dut, X, stall, seed=N)
    expected = [w for x in X for w in ref_words(W, T, x, pe)]
    assert got == expected


@pytest.mark.parametrize("M,N,pe,simd", [(11, 37, 4, 8), (3, 9, 1, 1), (4, 16, 4, 16)])
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_mvu_threshold_classes_follow_the_schedule(M, N, pe, simd, stall):
    """Each vector is thresholded with the table its schedule entry names, cyclically."""
    classes, nvec = 3, 8
    tables = [make_case(M, N, 2, nvec, seed=s)[1] for s in range(classes)]
    W, _, X = make_case(M, N, 2, nvec, seed=0)
    schedule = [2, 0, 1, 1, 0]
    dut = MatrixVectorUnit(W, np.stack(tables), pe, simd, schedule=schedule)
    got = simulate(dut, X, stall, seed=N)
    expected = [w for v, x in enumerate(X) for w in ref_words(W, tables[schedule[v % 5]], x, pe)]
    assert got == expected


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_mvu_weight_sets_take_turns(stall):
    """Vector v uses weight matrix v % sets (and here threshold table v % sets): a grouped convolution."""
    M, N, pe, simd, sets, nvec = 5, 13, 2, 4, 3, 7
    cases = [make_case(M, N, 1, nvec, seed=10 + s) for s in range(sets)]
    X = cases[0][2]
    dut = MatrixVectorUnit(np.stack([c[0] for c in cases]), np.stack([c[1] for c in cases]), pe, simd,
                           schedule=range(sets))
    got = simulate(dut, X, stall, seed=1)
    expected = [w for v, x in enumerate(X) for w in ref_words(cases[v % sets][0], cases[v % sets][1], x, pe)]
    assert got == expected


def test_mvu_threshold_edges():
    """Thresholds at negative, 0, exactly p, p + 1, N and N + 1 for every channel."""
    M, N, pe, simd = 5, 13, 2, 4
    rng = np.random.default_rng(3)
    W = rng.integers(0, 2, size=(M, N))
    X = rng.integers(0, 2, size=(3, N))
    p = ref_popcounts(W, X[0])
    T = np.stack([np.full(M, -1), np.zeros(M, dtype=int), p, p + 1,
                  np.full(M, N), np.full(M, N + 1)], axis=1)
    dut = MatrixVectorUnit(W, T, pe, simd)
    got = simulate(dut, X, 0.3)
    assert got == [w for x in X for w in ref_words(W, T, x, pe)]
    # first vector: -1, 0, p pass; p + 1, N+1 fail; N passes only where p == N
    for m in range(M):
        bits = (got[m // pe] >> ((m % pe) * 6)) & 0x3f
        assert bits & 0b000111 == 0b000111
        assert bits & 0b101000 == 0


@pytest.mark.parametrize("M,N,pe,simd,K", [(11, 37, 4, 8, 2), (10, 100, 3, 7, None),
                                           (2, 8, 2, 8, 1), (3, 9, 1, 1, 1), (4, 300, 2, 96, 1),
                                           (2, 700, 1, 1, 1), (26, 720, 1, 36, 1)])
def test_mvu_throughput(M, N, pe, simd, K):
    """Without stalls, a vector takes NF * SF cycles in steady state."""
    nvec = 6
    W, T, X = make_case(M, N, K, nvec, seed=1)
    dut = MatrixVectorUnit(W, T, pe, simd)
    stamps = []
    got = simulate(dut, X, 0.0, stamps=stamps)
    assert got == [w for x in X for w in ref_words(W, T, x, pe)]
    NF, SF = dut.nf, dut.sf
    assert dut.cycles_per_vector == NF * SF
    firsts = stamps[::NF]
    intervals = np.diff(firsts[1:])          # skip the start-up vector
    assert intervals.max() <= NF * SF + 1, (intervals, NF * SF)
    assert intervals.min() >= NF * SF
    # latency of the first output word after the input ends: fill + SF + pipeline (one stage more
    # where the slice popcounts are summed in groups)
    grouped = -(-simd // POPCOUNT_CHUNK) > SUM_GROUP
    banked = NF * SF > rom_bank_depth(pe * simd)   # and where the weight ROM is banked
    assert firsts[0] <= 2 * SF + 8 + grouped + banked


def test_mvu_ports_and_repr():
    W = np.ones((11, 37), dtype=np.uint8)
    T = np.zeros((11, 3), dtype=int)
    dut = elaborated(MatrixVectorUnit(W, T, 4, 8))
    assert (dut.nf, dut.sf, dut.k) == (3, 5, 3)
    assert dut.i.payload.shape().width == 8
    assert dut.o.payload.shape().width == 12
    assert repr(dut) == "MatrixVectorUnit(weights=<11x37>, thresholds=<11x3>, pe=4, simd=8)"
    score = elaborated(MatrixVectorUnit(W, None, 4, 8))
    layout = score.o.payload.shape()
    assert layout.length == 4 and layout.elem_shape.signed and layout.elem_shape.width == 7
    assert score.score_width == 7    # -37..37


def test_mvu_args():
    W = np.ones((4, 6), dtype=np.uint8)
    assert_rejects(MatrixVectorUnit, W, None, 0, 4, match="pe")
    assert_rejects(MatrixVectorUnit, W, None, 2, -1, match="simd")
    assert_rejects(MatrixVectorUnit, np.ones(6), None, 2, 4, match="2-D")
    assert_rejects(MatrixVectorUnit, W * 2, None, 2, 4, match="0 and 1")
    assert_rejects(MatrixVectorUnit, W, np.zeros((3, 2)), 2, 4, match="shape")
    assert_rejects(MatrixVectorUnit, W, np.array([[2, 1]] * 4), 2, 4, match="sorted")
    assert_rejects(MatrixVectorUnit, W, np.full((4, 1), 0.5), 2, 4, match="integer")
    assert_rejects(MatrixVectorUnit, W, None, 2, 4, element_width=1, weight_bits=2, match="binary elements")
    assert_rejects(MatrixVectorUnit, W * 4, None, 2, 4, element_width=8, weight_bits=3, match="3-bit weights")
    assert_rejects(MatrixVectorUnit, W, None, 2, 4, element_width=25, match="at most 24")
    assert_rejects(MatrixVectorUnit, W, None, 2, 4, element_width=8, multipliers=True, match="multi-bit elements and weights")


#: multi-bit elements: (element_width, signed_elements, weight_bits, multipliers)
ELEMENTS = [(8, False, 1, False),   # pixels and +-1 weights (PixelConv2d)
            (8, True, 4, False),    # fixed-point values and 4-bit weights (a real 1x1 convolution)
            (5, True, 2, False),
            (3, False, 3, False),
            (8, True, 4, True),     # the same in multipliers (DSP blocks)
            (8, False, 8, True),    # pixels and 8-bit weights
            (3, False, 3, True),
            (2, True, 2, True)]


@pytest.mark.parametrize("M,N,pe,simd", [(5, 19, 2, 4), (3, 9, 3, 9), (4, 40, 1, 16),
                                         (2, 50, 1, 40)])   # 10 slices of MAC_CHUNK: two adder levels
@pytest.mark.parametrize("K", [None, 2])
@pytest.mark.parametrize("stall", [0.0, 0.4])
@pytest.mark.parametrize("E,signed,B,multipliers", ELEMENTS)
def test_mvu_on_multibit_elements(M, N, pe, simd, K, stall, E, signed, B, multipliers):
    """The integer dot products of multi-bit elements and weights, by bit planes or multipliers,
    thresholded or as scores; the extremes of both ranges reach the accumulator's bounds."""
    rng = np.random.default_rng(M * 10 + N + E + B)
    e_lo, e_hi = (-(1 << (E - 1)), (1 << (E - 1)) - 1) if signed else (0, (1 << E) - 1)
    w_lo, w_hi = (0, 1) if B == 1 else (-(1 << (B - 1)), (1 << (B - 1)) - 1)
    W = rng.integers(w_lo, w_hi + 1, size=(M, N))
    X = rng.integers(e_lo, e_hi + 1, size=(6, N))
    W[0], X[0], X[1] = w_lo, e_lo, e_hi
    dots = X @ (2 * W - 1 if B == 1 else W).T  # (vectors, M)
    T = None
    if K:
        bound = abs(dots).max()
        T = np.sort(rng.integers(-bound - 3, bound + 3, size=(M, K)), axis=1)
        T[0, 0] = dots[1, 0]  # a tie
        T.sort(axis=1)
    dut = MatrixVectorUnit(W, T, pe, simd, element_width=E, signed_elements=signed, weight_bits=B,
                           multipliers=multipliers)
    assert abs(dots).max() <= dut.accumulator_range[1]
    garbage = random.Random(3)
    inputs = []
    for x in X:
        padded = list(x) + [garbage.randrange(1 << E) for _ in range(-N % simd)]
        inputs += [pack_lanes(padded[i:i + simd], E) for i in range(0, len(padded), simd)]
    got = stream_through(dut, inputs, dut.nf * len(X), stall=stall, seed=N)
    expected = []
    for d in dots:
        for nf in range(dut.nf):
            channels = range(nf * pe, (nf + 1) * pe)
            if T is None:
                expected.append(pack_lanes([d[m] if m < M else 0 for m in channels], dut.score_width))
            else:
                expected.append(pack_lanes([int(m < M and d[m] >= T[m, j]) for m in channels for j in range(K)], 1))
    assert got == expected


@pytest.mark.parametrize("width,depth", [(1, 16384), (2, 8192), (3, 4096), (9, 2048), (10, 1024),
                                         (36, 512), (1024, 512)])
def test_rom_bank_depth_is_one_block_deep(width, depth):
    assert rom_bank_depth(width) == depth


def test_datapaths_slice_the_word():
    """Bits, and multi-bit elements with +-1 weights (pixels), are summed in slices of POPCOUNT_CHUNK;
    with multi-bit weights each bit plane in slices of MAC_CHUNK elements."""
    assert POPCOUNT_CHUNK == 16 and MAC_CHUNK == 4
    assert PopcountDatapath(2, 40).slices == [(0, 16), (16, 32), (32, 40)]
    assert MacDatapath(2, 40, 8, False, 1).slices == [(0, 16), (16, 32), (32, 40)]
    assert MacDatapath(2, 9, 10, True, 4).slices == [(0, 4), (4, 8), (8, 9)]
    assert list(MacDatapath(2, 9, 10, True, 4).planes) == [0, 1, 2, 3]

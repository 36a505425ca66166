import random

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.sim import Simulator

from bnn_hw.hdl.popcount import popcount, xnor_popcount
from stream_testing import assert_rejects

SMALL = range(1, 9)


def _simulate(m, inputs, rows, probes):
    """Set ``inputs`` to each row of values in turn; return the ``probes``' values for each row."""
    results = []

    async def testbench(ctx):
        for row in rows:
            for signal, value in zip(inputs, row):
                ctx.set(signal, int(value))
            results.append([ctx.get(probe) for probe in probes])

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    return np.array(results, dtype=object)  # Python ints: counts of wide lanes exceed 64 bits


def _xnor_count(a, b, width):
    """NumPy reference: the number of equal bits in the low ``width`` bits of ``a`` and ``b``."""
    bits = np.arange(width, dtype=np.uint64)
    x = np.asarray(a, dtype=np.uint64)[:, None] >> bits & 1
    y = np.asarray(b, dtype=np.uint64)[:, None] >> bits & 1
    return (x == y).sum(axis=1)


@pytest.mark.parametrize("width", SMALL)
def test_exhaustive_small_widths(width):
    # Every (a, b) pair, 64 pairs per simulation step (64 copies side by side), checked against
    # NumPy; `popcount` is checked on every `a` at the same time.
    pairs = np.arange(4 ** width)
    va, vb = pairs % (1 << width), pairs >> width
    lanes = min(64, len(pairs))
    m = Module()
    a, b = Signal(width * lanes), Signal(width * lanes)
    lane = lambda v, k: v[k * width:(k + 1) * width]
    counts = [xnor_popcount(m, lane(a, k), lane(b, k)) for k in range(lanes)]
    counts += [popcount(lane(a, k)) for k in range(lanes)]
    out_width = width.bit_length()
    assert all(len(count) == out_width for count in counts)

    pack = lambda values: sum(int(v) << (k * width) for k, v in enumerate(values))
    rows = [(pack(va[i:i + lanes]), pack(vb[i:i + lanes])) for i in range(0, len(pairs), lanes)]
    got = _simulate(m, (a, b), rows, [Cat(*counts)])[:, 0]
    fields = [[(int(word) >> (k * out_width)) & ((1 << out_width) - 1) for k in range(2 * lanes)]
              for word in got]
    fields = np.array(fields)
    np.testing.assert_array_equal(fields[:, :lanes].ravel(), _xnor_count(va, vb, width))
    np.testing.assert_array_equal(fields[:, lanes:].ravel(),
                                  width - _xnor_count(va, np.zeros_like(va), width))


@pytest.mark.parametrize("width", [13, 32, 64, 100, 257, 512])
def test_random_against_numpy(width):
    rng = np.random.default_rng(width)
    m = Module()
    a, b = Signal(width), Signal(width)
    count = xnor_popcount(m, a, b)
    naive = popcount(~(a ^ b))
    assert len(count) == len(naive) == width.bit_length()
    # Random pairs, plus the extremes (all equal, all different) and nearly-equal pairs.
    bits_a = rng.integers(0, 2, size=(40, width))
    flip = rng.random(size=(40, width)) < rng.random(size=(40, 1))
    bits_b = bits_a ^ flip
    bits_b[0], bits_b[1] = bits_a[0], 1 - bits_a[1]
    to_int = lambda bits: int("".join(map(str, bits[::-1])), 2)
    rows = [(to_int(x), to_int(y)) for x, y in zip(bits_a, bits_b)]
    got = _simulate(m, (a, b), rows, [count, naive])
    expected = (bits_a == bits_b).sum(axis=1)
    np.testing.assert_array_equal(got[:, 0], expected)
    np.testing.assert_array_equal(got[:, 1], expected)
    assert got[0, 0] == width and got[1, 0] == 0


def test_unconditional_inside_if():
    # Called inside `with m.If(...)`, the compressor itself must not become conditional.
    m = Module()
    en, a, b = Signal(), Signal(16), Signal(16)
    out = Signal(5)
    with m.If(en):
        count = xnor_popcount(m, a, b)
        m.d.sync += out.eq(count)
    got = _simulate(m, (en, a, b), [(0, 0x1234, 0x1234), (0, 0xffff, 0)], [count])
    assert list(got[:, 0]) == [16, 0]


def test_operand_expressions_and_zero_width():
    m = Module()
    a, b = Signal(7), Signal(7)
    count = xnor_popcount(m, a ^ b, ~b)  # xnor(a ^ b, ~b) = a: counts the one bits of a
    got = _simulate(m, (a, b), [(v, (v * 37) & 0x7f) for v in range(128)], [count])
    assert list(got[:, 0]) == [bin(v).count("1") for v in range(128)]

    zero = xnor_popcount(m, Const(0, 0), Const(0, 0))
    assert len(zero) == 0
    assert len(popcount(Const(0, 0))) == 0


def test_rejects_bad_arguments():
    assert_rejects(lambda: xnor_popcount(Module(), Signal(4), Signal(5)), match="equal width")
    assert_rejects(lambda: xnor_popcount(Module(), Signal(4), Signal(4), max_chain=1),
                   match="max_chain")


@pytest.mark.parametrize("max_chain", [2, 5, 1000])
def test_chain_lengths(max_chain):
    # Short chains (many chains per level) and one chain per level give the same counts.
    m = Module()
    a, b = Signal(77), Signal(77)
    count = xnor_popcount(m, a, b, max_chain=max_chain)
    rng = random.Random(max_chain)
    values = [(rng.getrandbits(77), rng.getrandbits(77)) for _ in range(30)]
    values += [((1 << 77) - 1, (1 << 77) - 1), (0, (1 << 77) - 1), (0x5555 << 60, 0x5555 << 60)]
    got = _simulate(m, (a, b), values, [count])
    assert list(got[:, 0]) == [77 - bin(x ^ y).count("1") for x, y in values]


def test_netlist_grows_linearly():
    # Partial sums are shared; if they were expressions rather than signals, Amaranth would copy
    # them once per use and the netlist would grow exponentially with the tree's depth.
    sizes = {}
    for width in (64, 512):
        m = Module()
        a, b, out = Signal(width), Signal(width), Signal(width.bit_length())
        m.d.comb += out.eq(xnor_popcount(m, a, b))
        sizes[width] = rtlil.convert(m, ports=[a, b, out]).count("\n  cell ")
    assert sizes[512] < 10 * sizes[64]

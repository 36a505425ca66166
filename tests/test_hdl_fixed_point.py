"""Requantize, FixedSign and AddJoin: fixed-point stages, exact under random stalls."""

import random

import numpy as np
import pytest

from bnn_hw.compiler.microarch import rom_slices
from bnn_hw.hdl import AddJoin, FixedSign, Requantize
from stream_testing import assert_rejects, pack_lanes, receive, run, send, stream_through, unpack_lanes


@pytest.mark.parametrize("channels, lanes, in_lanes", [(5, 2, 2), (4, 4, 4), (3, 1, 1), (10, 2, 4), (7, 1, 3)])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_requantize_looks_each_score_up_in_its_channels_table(channels, lanes, in_lanes, stall):
    n = 7  # scores of 7 inputs: -7, -5, ..., 7
    rng = np.random.default_rng(channels * lanes)
    table = rng.integers(-20, 20, (channels, n + 1))
    dut = Requantize(table, lanes, in_lanes)
    vectors = 6
    in_words, words_per_vector = -(-channels // in_lanes), -(-channels // lanes)
    p = rng.integers(0, n + 1, (vectors, in_words * in_lanes))
    words = [pack_lanes(2 * row[w * in_lanes:(w + 1) * in_lanes] - n, n.bit_length() + 1)
             for row in p for w in range(in_words)]
    got = stream_through(dut, words, vectors * words_per_vector, stall=stall, seed=2)
    for i, word in enumerate(got):
        vector, w = divmod(i, words_per_vector)
        values = unpack_lanes(word, dut.width, lanes, signed=True)
        for lane, value in enumerate(values):
            c = w * lanes + lane
            assert value == (table[c, p[vector, c]] if c < channels else 0)


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_fixed_sign_is_the_inverted_top_bit(stall):
    rng = np.random.default_rng(1)
    values = rng.integers(-8, 8, (20, 3))
    dut = FixedSign(3, 4)
    got = stream_through(dut, [pack_lanes(v, 4) for v in values], len(values), stall=stall, seed=3)
    assert got == [sum(int(x >= 0) << c for c, x in enumerate(v)) for v in values]


@pytest.mark.parametrize("channels, lanes", [(5, 2), (3, 3), (4, 1)])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_fixed_sign_with_thresholds_compares_each_channel_with_its_own(channels, lanes, stall):
    rng = np.random.default_rng(channels)
    thresholds = rng.integers(-8, 9, channels)          # 8: never, for 4-bit values
    thresholds[0] = -8                                   # always
    words = -(-channels // lanes)
    values = rng.integers(-8, 8, (12, words * lanes))
    dut = FixedSign(lanes, 4, thresholds)
    got = stream_through(dut, [pack_lanes(v[w * lanes:(w + 1) * lanes], 4) for v in values for w in range(words)],
                         12 * words, stall=stall, seed=channels)
    for i, word in enumerate(got):
        vector, w = divmod(i, words)
        for lane in range(lanes):
            c = w * lanes + lane
            expected = int(values[vector, c] >= thresholds[c]) if c < channels else 0
            assert (word >> lane) & 1 == expected, (vector, c)


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_add_join_adds_lanes_pairwise_in_order(stall):
    rng = np.random.default_rng(2)
    a = rng.integers(-8, 8, (25, 3))      # 4 bits
    b = rng.integers(-32, 32, (25, 3))    # 6 bits
    dut = AddJoin(3, 4, 6, 7)
    got = []

    async def send_a(ctx):
        await send(ctx, dut.a, [pack_lanes(v, 4) for v in a], random.Random(5), stall)

    async def send_b(ctx):
        await send(ctx, dut.b, [pack_lanes(v, 6) for v in b], random.Random(6), stall)

    async def consumer(ctx):
        got.extend(await receive(ctx, dut.o, len(a), random.Random(7), stall))

    run(dut, send_a, send_b, consumer)
    assert [unpack_lanes(w, 7, 3, signed=True) for w in got] == (a + b).tolist()


@pytest.mark.parametrize("stall, bits", [(0.0, 6), (0.5, 6), (0.5, 7)])
def test_requantize_reads_a_rom_deeper_than_a_block_ram_in_registered_banks(stall, bits):
    """40 x 256 = 10,240 words: at 6 bits a 4-bit slice in 3 banks of 4,096 words and a 2-bit slice in 2
    of 8,192; at 7 bits one more slice of 1 bit in a single bank (staged like the others)."""
    assert rom_slices(bits, 10240) == ((4, 2) if bits == 6 else (4, 2, 1))
    n, channels = 255, 40
    rng = np.random.default_rng(9)
    table = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), (channels, n + 1))
    dut = Requantize(table, 1, 2)
    p = rng.integers(0, n + 1, (3, channels))
    words = [pack_lanes(2 * row[w:w + 2] - n, n.bit_length() + 1) for row in p for w in range(0, channels, 2)]
    got = stream_through(dut, words, 3 * channels, stall=stall, seed=4)
    assert [unpack_lanes(w, bits, 1, signed=True)[0] for w in got] == [table[c, p[v, c]] for v in range(3)
                                                                        for c in range(channels)]


def test_requantize_sign_extends_to_a_wider_width_when_asked():
    """The compiler's type can be wider than the table needs (at least its fraction bits + 1)."""
    table = np.array([[-2, -1, 0, 1]])           # 2 bits hold it
    dut = Requantize(table, 1, width=5)
    assert dut.width == 5
    got = stream_through(dut, [pack_lanes([s], 3) for s in (-3, -1, 1, 3)], 4)
    assert [unpack_lanes(w, 5, 1, signed=True)[0] for w in got] == [-2, -1, 0, 1]


def test_arguments():
    assert_rejects(Requantize, np.zeros((2, 1), int), 1, match="shape")
    assert_rejects(Requantize, np.zeros((2, 3)), 1, match="integer")
    assert_rejects(Requantize, np.zeros((2, 3), int), 0, match="lanes")
    assert_rejects(Requantize, np.zeros((2, 3), int), 2, 3, match="divide")
    assert_rejects(Requantize, np.array([[-4, 3]]), 1, width=2, match="at least 3")
    assert_rejects(FixedSign, 0, 4, match="channels")
    assert_rejects(FixedSign, 2, 4, [9, 0], match="thresholds")
    assert_rejects(AddJoin, 2, 4, 0, 5, match="b_width")

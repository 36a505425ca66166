"""Fork, LogicJoin and ForkJoin: bitwise joins in order, under random stalls on every side."""

import random

import numpy as np
import pytest

from bnn_hw.hdl import Chain, ConcatJoin, Fork, ForkJoin, LogicJoin, Permute, Repack, StreamRegister
from stream_testing import assert_rejects, receive, run, send, stream_through


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_fork_gives_every_word_to_both_sides_each_in_its_own_time(stall):
    words = list(np.random.default_rng(0).integers(0, 1 << 12, 40))
    dut = Fork(12)
    got = {}

    async def producer(ctx):
        await send(ctx, dut.i, words, random.Random(1), stall)

    def consumer(side, seed):
        async def bench(ctx):
            got[side] = await receive(ctx, getattr(dut, side), len(words), random.Random(seed), stall)
        return bench

    run(dut, producer, consumer("a", 2), consumer("b", 3))
    assert got["a"] == words and got["b"] == words


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_stream_register_passes_words_in_order_one_per_cycle(stall):
    words = list(np.random.default_rng(2).integers(0, 1 << 10, 40))
    stamps = []
    assert stream_through(StreamRegister(10), words, len(words), stall=stall, seed=3, stamps=stamps) == words
    if not stall:
        assert stamps == list(range(stamps[0], stamps[0] + len(words)))


@pytest.mark.parametrize("op, fn", [("xnor", lambda a, b: ~(a ^ b) & 0xFF), ("or", lambda a, b: a | b)])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_logic_join_pairs_words_in_order(op, fn, stall):
    rng = np.random.default_rng(4)
    a, b = (list(rng.integers(0, 256, 30)) for _ in range(2))
    dut = LogicJoin(8, op)
    got = []

    async def send_a(ctx):
        await send(ctx, dut.a, a, random.Random(5), stall)

    async def send_b(ctx):
        await send(ctx, dut.b, b, random.Random(6), stall)

    async def consumer(ctx):
        got.extend(await receive(ctx, dut.o, len(a), random.Random(7), stall))

    run(dut, send_a, send_b, consumer)
    assert got == [fn(x, y) for x, y in zip(a, b)]


@pytest.mark.parametrize("depth", [1, 5])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_fork_join_around_a_body(stall, depth):
    """A body that regroups 6-bit words into 3-bit halves, reverses their bit order and regroups
    them back: o = xnor(reverse(i), i), computed here bit by bit."""
    body = Chain([Repack(6, 6, 3), Repack(6, 3, 6), Permute(list(reversed(range(6))))])
    dut = ForkJoin(body, LogicJoin(6, "xnor"), depth=depth)
    words = [int(w) for w in np.random.default_rng(8).integers(0, 64, 25)]
    expected = [~(_reversed(w, 6) ^ w) & 63 for w in words]
    assert len(set(expected)) > 5   # the data decide the result
    assert stream_through(dut, words, len(words), stall=stall, seed=9) == expected


def _reversed(word: int, width: int) -> int:
    return int(format(word, f"0{width}b")[::-1], 2)


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_fork_join_with_a_computing_branch(stall):
    """A branch that regroups each 4-bit word into bits, reverses them and regroups them back:
    o = body(i) << 4 | reverse(i)."""
    body = Chain([Repack(4, 4, 2), Repack(4, 2, 4)])
    branch = Chain([StreamRegister(4), Repack(4, 4, 1), Repack(4, 1, 4), Permute([3, 2, 1, 0])])
    dut = ForkJoin(body, ConcatJoin(4, 4), depth=3, branch=branch)
    words = [int(w) for w in np.random.default_rng(5).integers(0, 16, 20)]
    expected = [w << 4 | _reversed(w, 4) for w in words]
    assert stream_through(dut, words, len(words), stall=stall, seed=6) == expected


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_concat_join_puts_the_shortcut_in_the_low_bits(stall):
    """A body that passes each 4-bit word through in 2-bit halves: o = body(i) << 4 | i."""
    body = Chain([Repack(4, 4, 2), Repack(4, 2, 4)])
    dut = ForkJoin(body, ConcatJoin(4, 4), depth=1)
    words = list(np.random.default_rng(3).integers(0, 16, 20))
    assert stream_through(dut, words, len(words), stall=stall, seed=4) == [w << 4 | w for w in words]


def test_arguments():
    assert_rejects(LogicJoin, 8, "and", match="op")
    assert_rejects(Fork, 0, match="width")
    assert_rejects(StreamRegister, 0, match="width")
    assert_rejects(lambda: ForkJoin(Chain([Repack(6, 6, 3)]), LogicJoin(6, "or"), 1), match="the join takes")
    assert_rejects(lambda: ForkJoin(Chain([Repack(6, 6, 6)]), LogicJoin(6, "or"), 1, branch=StreamRegister(5)),
                   match="the branch must take")
    assert_rejects(lambda: ForkJoin(Chain([Repack(6, 6, 6)]), LogicJoin(6, "or"), 0), match="depth")

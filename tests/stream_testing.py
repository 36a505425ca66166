"""Reusable stream testbench helpers for the Amaranth simulator.

Payloads are handled as raw integers (the bits of the payload, whatever its layout); use
:func:`pack_lanes` / :func:`unpack_lanes` to convert lane arrays.
"""

import gc
import random
import warnings

import pytest
from amaranth.hdl import Fragment, UnusedElaboratable, Value
from amaranth.sim import Simulator

__all__ = ["send", "receive", "run", "pack_lanes", "unpack_lanes", "pack_bits", "unpack_bits",
           "assert_rejects", "elaborated"]


def _stall(rng, stall_prob):
    return stall_prob > 0 and rng.random() < stall_prob


async def send(ctx, port, words, rng=None, stall_prob=0.0):
    """Drive ``words`` (raw ints) into stream ``port``, pausing randomly before each word."""
    rng = rng or random.Random(0)
    payload = Value.cast(port.payload)
    for word in words:
        while _stall(rng, stall_prob):
            ctx.set(port.valid, 0)
            await ctx.tick()
        ctx.set(payload, int(word))
        ctx.set(port.valid, 1)
        await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def receive(ctx, port, count, rng=None, stall_prob=0.0, stamps=None):
    """Collect ``count`` raw payloads from stream ``port``, deasserting ready randomly.

    If ``stamps`` is a list, the cycle (counted from the call) of each transfer is appended to it.
    """
    rng = rng or random.Random(1)
    payload = Value.cast(port.payload)
    words = []
    cycle = 0
    while len(words) < count:
        ready = 0 if _stall(rng, stall_prob) else 1
        ctx.set(port.ready, ready)
        _, _, valid, value = await ctx.tick().sample(port.valid, payload)
        if ready and valid:
            words.append(value)
            if stamps is not None:
                stamps.append(cycle)
        cycle += 1
    ctx.set(port.ready, 0)
    return words


def stream_through(dut, words, count, *, stall=0.0, seed=0, stamps=None, max_cycles=100_000, monitors=()):
    """Send ``words`` into ``dut.i`` and return ``count`` words taken from ``dut.o``.

    Producer and consumer both stall with probability ``stall`` (seeded ``seed`` and ``seed + 1``);
    ``stamps`` is passed to :func:`receive`, ``max_cycles`` and ``monitors`` (testbenches that watch
    the design every cycle, in the background) to :func:`run`.
    """
    got = []

    async def producer(ctx):
        await send(ctx, dut.i, words, random.Random(seed), stall)

    async def consumer(ctx):
        got.extend(await receive(ctx, dut.o, count, random.Random(seed + 1), stall, stamps))

    run(dut, producer, consumer, max_cycles=max_cycles, monitors=monitors)
    return got


def run(dut, *testbenches, max_cycles=100_000, monitors=()):
    """Simulate ``dut`` with a 1 MHz ``sync`` clock until all ``testbenches`` return, with
    ``monitors`` running in the background.

    Fails if they have not all finished after ``max_cycles`` cycles (deadlock guard).
    """
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for monitor in monitors:
        sim.add_testbench(monitor, background=True)

    async def watchdog(ctx):
        for _ in range(max_cycles):
            await ctx.tick()
        raise AssertionError(f"simulation did not finish within {max_cycles} cycles")
    sim.add_testbench(watchdog, background=True)
    sim.run()


def pack_lanes(values, width):
    """Pack integers (two's complement, ``width`` bits each) into one int, lane 0 lowest."""
    word = 0
    mask = (1 << width) - 1
    for k, v in enumerate(values):
        word |= (int(v) & mask) << (k * width)
    return word


def unpack_lanes(word, width, count, signed=False):
    """Inverse of :func:`pack_lanes`."""
    mask = (1 << width) - 1
    out = []
    for k in range(count):
        v = (word >> (k * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


def pack_bits(bits, width):
    """Pack a 1-D 0/1 sequence into ``ceil(len / width)`` words, LSB first, zero padded."""
    bits = [int(b) for b in bits]
    return [pack_lanes(bits[k:k + width], 1) for k in range(0, len(bits), width)]


def unpack_bits(words, width, nbits):
    """Unpack words of ``width`` bits into a list of ``nbits`` bits (LSB first)."""
    out = []
    for w in words:
        out.extend(unpack_lanes(w, 1, width))
    return out[:nbits]


def assert_rejects(constructor, *args, match=None, **kwargs):
    """Assert that ``constructor(*args, **kwargs)`` raises ValueError (matching ``match``).

    The half-built elaboratable is collected here, with its "created but never used" warning
    suppressed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match=match):
            constructor(*args, **kwargs)
        gc.collect()


def elaborated(dut):
    """Elaborate ``dut`` once (catching elaboration errors early) and return it."""
    Fragment.get(dut, None)
    return dut

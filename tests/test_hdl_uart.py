"""UartRx and UartTx in the Amaranth simulator: exact line timing, loopback, clock mismatch, errors."""

import random

import pytest
from amaranth.hdl import Module

from bnn_hw.hdl import UartRx, UartTx
from stream_testing import assert_rejects, elaborated
from uart_testing import CLOCK, LineListener, send_bytes, simulate


class _Collector:
    """Background testbench taking every byte from a receiver's always-ready stream (and counting
    framing errors)."""

    def __init__(self, rx):
        self.rx = rx
        self.bytes = []
        self.errors = 0

    async def run(self, ctx):
        async for _, _, valid, payload, error in ctx.tick().sample(self.rx.o.valid, self.rx.o.payload,
                                                                   self.rx.error):
            if valid:
                self.bytes.append(payload)
            self.errors += error


def _receive(divisor, data, *, rate=1.0, stop=1, prefix=None):
    """Send ``data`` at ``rate`` times the nominal bit time into a UartRx, after ``prefix(ctx, pin)``;
    return the collector."""
    rx = UartRx(divisor)
    collector = _Collector(rx)

    async def sender(ctx):
        await ctx.delay(3.3 * CLOCK)         # transitions off the clock edges
        if prefix:
            await prefix(ctx, rx.rx)
        await send_bytes(ctx, rx.rx, data, divisor * CLOCK * rate, stop)
        await ctx.tick().repeat(4 * divisor)

    simulate(rx, sender, background=[collector.run])
    return collector


@pytest.mark.parametrize("divisor", [4, 5, 8, 13])
def test_loopback_back_to_back(divisor):
    """Bytes from UartTx into UartRx, with the transmitter never idle between them."""
    data = [0x00, 0xFF, 0x55, 0xAA, 0xB5, 0x01, 0x80] + random.Random(divisor).choices(range(256), k=9)
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    collector = _Collector(rx)
    listener = LineListener(tx.tx, divisor)

    async def producer(ctx):
        for byte in data:
            ctx.set(tx.i.payload, byte)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
        ctx.set(tx.i.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    simulate(m, producer, background=[collector.run, listener.run])
    assert collector.bytes == data
    assert collector.errors == 0
    assert list(listener.received) == data
    # back to back: each start bit exactly 10 bit times after the previous one
    assert {b - a for a, b in zip(listener.starts, listener.starts[1:])} == {10 * divisor}


@pytest.mark.parametrize("divisor", [4, 7])
def test_tx_line_levels(divisor):
    """Every bit lasts exactly ``divisor`` cycles: start 0, data LSB first, stop 1, then idle high."""
    tx = UartTx(divisor)
    levels = []

    async def bench(ctx):
        assert ctx.get(tx.tx) == 1
        ctx.set(tx.i.payload, 0b1011_0010)
        ctx.set(tx.i.valid, 1)
        await ctx.tick()
        ctx.set(tx.i.valid, 0)
        for _ in range(12 * divisor):
            levels.append(ctx.get(tx.tx))
            await ctx.tick()

    simulate(tx, bench)
    bits = [0, 0, 1, 0, 0, 1, 1, 0, 1, 1]
    expected = [b for b in bits for _ in range(divisor)] + [1] * (2 * divisor)
    assert levels == expected


@pytest.mark.parametrize("divisor", [8, 16])
@pytest.mark.parametrize("rate", [0.98, 1.02])
def test_rx_tolerates_sender_clock_2_percent_off(divisor, rate):
    data = random.Random(int(rate * 100) + divisor).choices(range(256), k=24) + [0x00, 0xFF]
    collector = _receive(divisor, data, rate=rate)
    assert collector.bytes == data
    assert collector.errors == 0


def test_rx_framing_error_drops_the_byte_and_recovers():
    divisor = 6

    async def bad_byte(ctx, pin):
        # a byte whose stop bit is low, the line held low (a break) a while longer, then idle
        await send_bytes(ctx, pin, [0x3C], divisor * CLOCK, stop=0)
        await ctx.delay(5 * divisor * CLOCK)
        ctx.set(pin, 1)
        await ctx.delay(2 * divisor * CLOCK)

    collector = _receive(divisor, [0x42, 0x00], prefix=bad_byte)
    assert collector.bytes == [0x42, 0x00]
    assert collector.errors == 1


def test_rx_ignores_a_short_glitch():
    divisor = 8

    async def glitch(ctx, pin):
        ctx.set(pin, 0)
        await ctx.delay(2 * CLOCK)           # a quarter bit low: not a start bit
        ctx.set(pin, 1)
        await ctx.delay(3 * divisor * CLOCK)

    collector = _receive(divisor, [0x99], prefix=glitch)
    assert collector.bytes == [0x99]
    assert collector.errors == 0


@pytest.mark.parametrize("component", [UartRx, UartTx])
@pytest.mark.parametrize("divisor", [3, 0, -8, 4.0, True, "8"])
def test_rejects_bad_divisor(component, divisor):
    assert_rejects(component, divisor, match="divisor")


def test_repr():
    assert repr(elaborated(UartRx(9))) == "UartRx(divisor=9)"
    assert repr(elaborated(UartTx(4))) == "UartTx(divisor=4)"

"""Serial-line helpers for the Amaranth simulator: drive a pin bit by bit, decode a pin into bytes.

The ``sync`` clock has period :data:`CLOCK`; a line's bit time is ``divisor * CLOCK`` (times a rate
factor to model a sender whose clock is off).
"""

from amaranth.sim import Simulator

from bnn_hw.wire import ReplyParser, line_levels

__all__ = ["CLOCK", "send_bytes", "ticks", "LineListener", "SimHost", "simulate"]

CLOCK = 1e-6


async def send_bytes(ctx, pin, data, bit_time, stop=1):
    """Drive ``data`` onto ``pin`` back to back, each bit ``bit_time`` seconds (any real number)."""
    for byte in data:
        for level in line_levels(byte, stop):
            ctx.set(pin, level)
            await ctx.delay(bit_time)


async def ticks(ctx, count):
    """Wait ``count`` clock cycles (one at a time: a background process may be stopped in between)."""
    for _ in range(count):
        await ctx.tick()


class LineListener:
    """Decode every byte on a clocked ``pin`` (8N1, ``divisor`` cycles per bit) into :attr:`received`.

    A background testbench (:meth:`run`); it asserts that every stop bit is high, and records the
    cycle each start bit began in :attr:`starts`.
    """

    def __init__(self, pin, divisor):
        self.pin, self.divisor = pin, divisor
        self.received = bytearray()
        self.starts = []

    async def run(self, ctx):
        cycle = 0
        while True:
            _, _, level = await ctx.tick().sample(self.pin)
            cycle += 1
            if level:
                continue
            self.starts.append(cycle)
            await ticks(ctx, self.divisor // 2)   # the middle of the start bit
            assert ctx.get(self.pin) == 0, "start bit shorter than half a bit"
            byte = 0
            for k in range(8):
                await ticks(ctx, self.divisor)
                byte |= ctx.get(self.pin) << k
            await ticks(ctx, self.divisor)
            assert ctx.get(self.pin) == 1, "stop bit is low"
            cycle += self.divisor // 2 + 9 * self.divisor
            self.received.append(byte)


class SimHost:
    """The host end of a serial link to a simulated device, parsing replies with :mod:`bnn_hw.wire`."""

    def __init__(self, rx_pin, tx_pin, divisor, rate=1.0):
        self.rx_pin, self.divisor = rx_pin, divisor
        self.bit_time = divisor * CLOCK * rate
        self.listener = LineListener(tx_pin, divisor)
        self._parser = ReplyParser()
        self._taken = 0

    async def write(self, ctx, data):
        await send_bytes(ctx, self.rx_pin, data, self.bit_time)

    async def reply(self, ctx, max_cycles=200_000):
        """The next reply from the device (fails if none completes within ``max_cycles``)."""
        for _ in range(max_cycles):
            new = bytes(self.listener.received[self._taken:])
            self._taken += len(new)
            replies = self._parser.feed(new)
            if replies:
                assert len(replies) == 1 and self._taken == len(self.listener.received), "extra bytes"
                return replies[0]
            await ctx.tick()
        raise AssertionError(f"no reply within {max_cycles} cycles")

    async def replies(self, ctx, count, max_cycles=500_000):
        """The next ``count`` replies, however many arrive at once (fails if they have not all come
        within ``max_cycles``, or more come)."""
        got = []
        for _ in range(max_cycles):
            new = bytes(self.listener.received[self._taken:])
            self._taken += len(new)
            got += self._parser.feed(new)
            if len(got) >= count:
                assert len(got) == count and self._parser.needed == 4, "more replies than requests"
                return got
            await ctx.tick()
        raise AssertionError(f"{len(got)} of {count} replies within {max_cycles} cycles")

    def drain(self):
        """The replies received and not yet taken (none may be left incomplete)."""
        new = bytes(self.listener.received[self._taken:])
        self._taken += len(new)
        replies = self._parser.feed(new)
        assert self._parser.needed == 4, "a reply is incomplete"
        return replies

    async def settle(self, ctx, quiet_bits):
        """Wait until the device has sent nothing for ``quiet_bits`` bit times."""
        count, quiet = len(self.listener.received), 0
        while quiet < quiet_bits * self.divisor:
            await ctx.tick()
            quiet = quiet + 1 if len(self.listener.received) == count else 0
            count = len(self.listener.received)

    async def exchange(self, ctx, request):
        await self.write(ctx, request)
        return await self.reply(ctx)


def simulate(dut, testbench, *, background=(), clocks=(("sync", CLOCK),), max_cycles=500_000):
    """Run ``testbench`` (and ``background`` processes) on ``dut`` until it returns."""
    sim = Simulator(dut)
    for domain, period in clocks:
        sim.add_clock(period, domain=domain)
    for process in background:
        sim.add_testbench(process, background=True)
    sim.add_testbench(testbench)

    async def watchdog(ctx):
        await ticks(ctx, max_cycles)
        raise AssertionError(f"simulation did not finish within {max_cycles} cycles")
    sim.add_testbench(watchdog, background=True)
    sim.run()

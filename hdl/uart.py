"""Asynchronous serial (UART) receiver and transmitter: 8 data bits, no parity, 1 stop bit, LSB first.

Both take ``divisor``, the clock cycles per bit (the clock frequency over the baud rate, rounded).
The line idles high; a byte is a low start bit, the 8 data bits LSB first, and a high stop bit.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ._checks import require_positive_ints

__all__ = ["UartRx", "UartTx", "MIN_DIVISOR"]

#: The fewest clock cycles per bit: the receiver samples each bit within one cycle of its middle,
#: so at 4 cycles per bit a quarter bit of the timing budget is already spent. Use 16 or more where
#: the two ends' clocks may differ by a few percent.
MIN_DIVISOR = 4


class _SerialComponent(wiring.Component):
    """A UART half: checks and keeps ``divisor``, the clock cycles per bit."""

    def __init__(self, divisor, members):
        self._divisor = divisor   # recorded first so that __repr__ works even when validation fails
        require_positive_ints(divisor=divisor)
        if divisor < MIN_DIVISOR:
            raise ValueError(f"divisor must be at least {MIN_DIVISOR} clock cycles per bit, not {divisor}")
        self._divisor = divisor
        super().__init__(members)

    @property
    def divisor(self):
        return self._divisor

    def __repr__(self):
        return f"{type(self).__name__}(divisor={self._divisor})"


class UartRx(_SerialComponent):
    """UART receiver: bytes from the ``rx`` pin as a stream.

    The pin passes a 2-flip-flop synchroniser. A falling edge starts a byte; the start bit is checked
    again at its middle (a shorter low pulse is ignored), then each bit is sampled at its middle,
    ``divisor`` cycles apart. A byte whose stop bit is low (a framing error) is dropped, ``error``
    pulses for one cycle and the receiver waits for the line to go high before it looks for the next
    start bit. The receiver is ready for the next start bit from the middle of the stop bit, so bytes
    may follow each other without a gap and the sender's clock may be a little fast or slow.

    A UART cannot wait: ``o.valid`` is high for exactly one cycle per byte and the consumer must take
    the byte then (``o`` is always ready).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least :data:`MIN_DIVISOR`.

    Attributes
    ----------
    rx : In(1), the serial input (idles high)
    o : Out(stream.Signature(8, always_ready=True)), received bytes
    error : Out(1), one-cycle pulse for each byte dropped for a bad stop bit
    """

    def __init__(self, divisor):
        super().__init__(divisor, {
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8, always_ready=True)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self._divisor

        line = Signal(init=1)
        m.submodules.synchronizer = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(divisor))
        bit = Signal(range(8))
        shift = Signal(8)
        m.d.sync += [self.o.valid.eq(0), self.error.eq(0)]
        m.d.comb += self.o.payload.eq(shift)

        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # the first sample of the start bit's middle is divisor // 2 cycles after the edge
                    m.d.sync += timer.eq(divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.next = "IDLE"                 # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(divisor - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], line)), bit.eq(bit + 1), timer.eq(divisor - 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += self.o.valid.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(_SerialComponent):
    """UART transmitter: bytes from a stream onto the ``tx`` pin.

    Each bit lasts exactly ``divisor`` cycles. ``i.ready`` is high while the line is idle and in the
    last cycle of a stop bit, so a stream of bytes goes out back to back without gaps. ``tx`` comes
    straight from a flip-flop.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least :data:`MIN_DIVISOR`.

    Attributes
    ----------
    i : In(stream.Signature(8)), bytes to send
    tx : Out(1), the serial output (idles high)
    """

    def __init__(self, divisor):
        super().__init__(divisor, {
            "i": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        divisor = self._divisor

        shift = Signal(10, init=(1 << 10) - 1)  # line levels still to send, LSB next; idle: all high
        left = Signal(range(11))                # bits still to send
        timer = Signal(range(divisor))
        m.d.comb += [
            self.tx.eq(shift[0]),
            self.i.ready.eq((left == 0) | ((left == 1) & (timer == 0))),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shift.eq(Cat(Const(0, 1), self.i.payload, Const(1, 1))), left.eq(10),
                         timer.eq(divisor - 1)]
        with m.Elif(left != 0):
            with m.If(timer == 0):
                m.d.sync += [shift.eq(Cat(shift[1:], Const(1, 1))), left.eq(left - 1), timer.eq(divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m

"""The board top level: the pipeline fed from images held in on-chip ROM, the class shown on LEDs.

After reset, and then every ``hold_cycles`` cycles, the next stored image is streamed into the
pipeline. LEDs 0-3 show the predicted class, LED 4 lights when it equals the stored label, and LEDs
5-7 show which image is shown; a board with fewer LEDs shows the low bits of that pattern. (The
UART interface of a later issue replaces the ROM.) The core clock is the board oscillator, or the
ECP5 PLL's output when a :class:`PllConfig` is given.
"""

from __future__ import annotations

from amaranth import ClockDomain, Elaboratable, Module, Mux, Signal
from amaranth.lib import io, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory

from .ecp5_pll import ECP5PLL, PllConfig

__all__ = ["DemoTop", "core_clock", "drive_leds"]


class DemoTop(Elaboratable):
    """Stream ``frames`` (input words, one list per image) through ``pipeline`` in turn, one every
    ``hold_cycles``, and drive the board's ``led`` 0 .. ``leds``-1 with the result (see above)."""

    def __init__(self, pipeline, frames: list[list[int]], labels: list[int], input_width: int,
                 hold_cycles: int = 1 << 24, leds: int = 8, pll: PllConfig | None = None):
        if not frames or any(len(f) != len(frames[0]) for f in frames):
            raise ValueError("frames must be a non-empty list of equally long word lists")
        if len(labels) != len(frames):
            raise ValueError("one label per frame")
        self.pipeline = pipeline
        self.frames, self.labels = frames, labels
        self.input_width, self.hold_cycles, self.leds = input_width, hold_cycles, leds
        self.pll = pll  #: when set (and built for a board), the core clock comes from the ECP5 PLL
        self.led = Signal(leds)  #: the LED pattern (also wired to the board's LEDs when built)

    def elaborate(self, platform):
        m = Module()
        core_clock(m, platform, self.pll)
        m.submodules.pipeline = pipe = self.pipeline
        words, count = len(self.frames[0]), len(self.frames)
        m.submodules.rom = rom = Memory(shape=self.input_width, depth=words * count,
                                        init=[w for f in self.frames for w in f])
        m.submodules.labels = labels = Memory(shape=max(1, max(self.labels).bit_length()), depth=count,
                                              init=self.labels)
        rd, label = rom.read_port(), labels.read_port(domain="comb")

        image = Signal(range(count), init=count - 1)  # the first timer tick moves to image 0
        word = Signal(range(words + 1), init=words)  # == words: nothing left to send
        base = Signal(range(words * count), init=(count - 1) * words)  # image * words, kept running
        addr = Signal(range(words * count + 1))
        timer = Signal(range(self.hold_cycles), init=self.hold_cycles - 1)
        # The ROM (block RAMs and their output multiplexers) is read into a plain register and then
        # written into a small FIFO that feeds the pipeline: no enable logic or pipeline stage sits
        # on the slow block-RAM read path. Reads are issued only while the FIFO has room for every
        # word in flight.
        m.submodules.input_fifo = fifo = SyncFIFOBuffered(width=self.input_width, depth=4)
        issued, arrived = Signal(), Signal()
        data = Signal(self.input_width)
        issue = Signal()
        m.d.comb += [
            issue.eq((word < words) & (fifo.level + issued + arrived <= fifo.depth - 1)),
            rd.addr.eq(addr),
            fifo.w_en.eq(arrived),
            fifo.w_data.eq(data),
            label.addr.eq(image),
            pipe.o.ready.eq(1),
        ]
        wiring.connect(m, fifo.r_stream, pipe.i)
        m.d.sync += [issued.eq(issue), arrived.eq(issued), data.eq(rd.data)]
        with m.If(issue):
            m.d.sync += [word.eq(word + 1), addr.eq(addr + 1)]
        m.d.sync += timer.eq(timer + 1)
        with m.If(timer == self.hold_cycles - 1):
            wrap = image == count - 1
            m.d.sync += [timer.eq(0), word.eq(0), image.eq(Mux(wrap, 0, image + 1)),
                         base.eq(Mux(wrap, 0, base + words)), addr.eq(Mux(wrap, 0, base + words))]

        shown = Signal(4)
        correct = Signal()
        with m.If(pipe.o.valid):
            m.d.sync += [shown.eq(pipe.o.payload.index), correct.eq(pipe.o.payload.index == label.data)]
        m.d.comb += self.led.eq(shown | (correct << 4) | (image[:3] << 5))
        drive_leds(m, platform, self.led)
        return m


#: The pipeline's clock domain when the PLL gives it an output of its own (:func:`core_clock`).
CORE_DOMAIN = "core"


def core_clock(m: Module, platform, pll: PllConfig | None) -> None:
    """Clock the ``sync`` domain from the ECP5 PLL when building with ``pll`` (else the platform's
    default clock drives it). A ``pll`` with a second output clocks :data:`CORE_DOMAIN` from the first
    and ``sync`` from the second."""
    if platform is not None and pll is not None:
        m.submodules.clk_in = clk_in = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.domains.sync = sync = ClockDomain("sync")
        if pll.clkos_div:
            m.domains.core = core = ClockDomain(CORE_DOMAIN)
            m.submodules.pll = ECP5PLL(clk_in.i, pll, core, secondary=sync)
        else:
            m.submodules.pll = ECP5PLL(clk_in.i, pll, sync)


def drive_leds(m: Module, platform, pattern: Signal) -> None:
    """Show ``pattern`` on the board's LEDs 0 .. len(pattern)-1 (nothing in simulation)."""
    if platform is not None:
        for i in range(len(pattern)):
            m.submodules[f"led{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            m.d.comb += led.o.eq(pattern[i])

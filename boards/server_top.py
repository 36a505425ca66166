"""The board top level for the UART inference server: the host sends frames, the board answers.

The board's USB-serial port (``uart`` 0) carries the :mod:`bnn_hw.wire` requests to an
:class:`~bnn_hw.hdl.uart_server.InferenceServer` around the pipeline, all in the core clock domain
(the board oscillator or the ECP5 PLL's output, as for the demo top). LEDs 0-3 show the class of the
last answer and the board's last LED lights while the last reply was an error.
:func:`capacity_beside_server` is what is left of a board's chip for the pipeline beside the server.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Signal
from amaranth.lib import io

from ..hdl.uart_server import InferenceServer, server_reserve
from .demo_top import core_clock, drive_leds
from .ecp5_pll import PllConfig

__all__ = ["ServerTop", "capacity_beside_server"]


def capacity_beside_server(board, input_type) -> tuple[dict[str, int], str]:
    """``board``'s chip capacity less :func:`~bnn_hw.hdl.uart_server.server_reserve`, and the device
    named with what is kept back (for fit checks and their messages)."""
    reserve = server_reserve(input_type, board.chip.block_ram)
    capacity = {k: v - reserve.get(k, 0) for k, v in board.chip.capacity().items()}
    kept = ", ".join(f"{v} {k.upper()}" for k, v in reserve.items())
    return capacity, f"{board.device} beside the UART server ({kept})"


class ServerTop(Elaboratable):
    """``server`` on the board's ``uart`` 0 pins, with the class on the LEDs."""

    def __init__(self, server: InferenceServer, leds: int = 8, pll: PllConfig | None = None):
        self.server, self.pll = server, pll
        self.led = Signal(leds)  #: the LED pattern (also wired to the board's LEDs when built)

    def elaborate(self, platform):
        m = Module()
        core_clock(m, platform, self.pll)
        m.submodules.server = server = self.server
        shown = server.last_class[:min(4, len(self.led) - 1)]
        m.d.comb += self.led.eq(shown | ((server.status != 0) << (len(self.led) - 1)))
        if platform is not None:
            uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-"})
            m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
            m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
            m.d.comb += [server.rx.eq(rx.i), tx.o.eq(server.tx)]
        drive_leds(m, platform, self.led)
        return m

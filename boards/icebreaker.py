"""The iCEBreaker (Lattice iCE40UP5K-SG48), from amaranth-boards.

12 MHz oscillator; the core runs from it directly (bnn-hw has no iCE40 PLL support). LEDs: the red
(0) and green (1) LEDs on the board and the five of the snap-off module in PMOD2 (2-6), which the
board ships with. Programmed over its FTDI into the SPI flash (``openFPGALoader -b ice40_generic``).
"""

from __future__ import annotations

from amaranth_boards.icebreaker import ICEBreakerPlatform

from .board import Board, build_only

__all__ = ["BOARDS"]

BOARDS = {
    "icebreaker": Board("icebreaker", "iCEBreaker",
                        build_only(ICEBreakerPlatform, ICEBreakerPlatform.break_off_pmod),
                        device="iCE40UP5K", clock_hz=12e6, leds=7, program_args=("--board", "ice40_generic")),
}

"""The OrangeCrab r0.2 (Lattice ECP5 25F or 85F, speed grade 8), from amaranth-boards.

48 MHz oscillator; the core clock defaults to 100 MHz from the ECP5 PLL. Its one RGB LED is the
demo's LEDs 0-2 (red, green, blue). Programmed through its USB DFU bootloader
(``openFPGALoader -b orangeCrab``): hold the button while plugging it in.
"""

from __future__ import annotations

from amaranth.build import Attrs
from amaranth_boards import orangecrab_r0_2
from amaranth_boards.resources import LEDResources

from .board import Board, build_only

__all__ = ["BOARDS"]

# The RGB LED's pins as three plain LEDs (amaranth-boards offers it only as one ``rgb_led``).
_LEDS = LEDResources(pins="K4 M3 J3", invert=True, attrs=Attrs(IO_TYPE="LVCMOS33"))


def _board(size: str) -> Board:
    platform = build_only(getattr(orangecrab_r0_2, f"OrangeCrabR0_2_{size}Platform"), _LEDS)
    return Board(f"orangecrab-{size.lower()}", f"OrangeCrab r0.2 {size}", platform, device=f"LFE5U-{size}",
                 clock_hz=48e6, leds=3, program_args=("--board", "orangeCrab"), core_clock_hz=100e6)


BOARDS = {board.name: board for board in map(_board, ("25F", "85F"))}
BOARDS["orangecrab"] = BOARDS["orangecrab-25f"]

"""The ULX3S boards (Lattice ECP5 12F/25F/45F/85F), from amaranth-boards.

25 MHz oscillator, 8 user LEDs, speed grade 6. The core clock defaults to 100 MHz from the ECP5 PLL
(the shipped examples meet it on the slowest speed grade); the UART server runs at 50 MHz from the
PLL's second output, so only the pipeline has to meet the core clock. Programmed over its FTDI JTAG.
"""

from __future__ import annotations

from amaranth_boards import ulx3s

from .board import Board, build_only

__all__ = ["BOARDS"]


def _board(size: str) -> Board:
    platform = build_only(getattr(ulx3s, f"ULX3S_{size}_Platform"))
    return Board(f"ulx3s-{size.lower()}", f"ULX3S {size}", platform, device=f"LFE5U-{size}",
                 clock_hz=25e6, leds=8, program_args=("--board", "ulx3s"), core_clock_hz=100e6,
                 server_clock_hz=50e6)


BOARDS = {board.name: board for board in map(_board, ("12F", "25F", "45F", "85F"))}
BOARDS["ulx3s"] = BOARDS["ulx3s-85f"]

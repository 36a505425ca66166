"""The ULX3S boards (Lattice ECP5 12F/25F/45F/85F), from amaranth-boards.

A build needs only yosys, nextpnr-ecp5 and ecppack; openFPGALoader (which amaranth-boards lists) is
needed only to program a board, so it is dropped from the tools a build requires. The core clock
defaults to 100 MHz from the ECP5 PLL (the shipped examples meet it on the slowest speed grade).
"""

from __future__ import annotations

from amaranth_boards import ulx3s

from .board import Board

__all__ = ["BOARDS"]


def _build_only(platform_cls):
    class Platform(platform_cls):
        @property
        def required_tools(self):
            return [t for t in super().required_tools if t != "openFPGALoader"]

    Platform.__name__ = Platform.__qualname__ = platform_cls.__name__
    return Platform


BOARDS = {
    f"ulx3s-{size}": Board(f"ulx3s-{size}", _build_only(getattr(ulx3s, f"ULX3S_{size.upper()}_Platform")),
                           device=f"LFE5U-{size.upper()}", clock_hz=25e6, leds=8, core_clock_hz=100e6)
    for size in ("12f", "25f", "45f", "85f")
}
BOARDS["ulx3s"] = BOARDS["ulx3s-85f"]

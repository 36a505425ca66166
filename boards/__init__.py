"""Boards and the FPGA build: ``build(plan, board, out_dir)`` gives a bitstream and a report.

Adding a board is one small file: wrap its amaranth-boards platform with :func:`build_only`, describe
it with a :class:`Board` (chip, oscillator, LEDs, openFPGALoader arguments) and list its ``BOARDS``
here. A new chip adds a :class:`Device` (and a new family a :class:`Family`).
"""

from ..errors import BnnHwError
from .board import Board, build_only
from .devices import DEVICES, Device
from .family import Family
from .icebreaker import BOARDS as _ICEBREAKER
from .orangecrab import BOARDS as _ORANGECRAB
from .ulx3s import BOARDS as _ULX3S

__all__ = ["BOARDS", "Board", "DEVICES", "Device", "Family", "build_only", "get_board"]

BOARDS: dict[str, Board] = {**_ULX3S, **_ICEBREAKER, **_ORANGECRAB}


def get_board(name: str) -> Board:
    """The board called ``name``, or a one-line error listing the known boards."""
    try:
        return BOARDS[name.lower()]
    except KeyError:
        raise BnnHwError(f"unknown board {name!r}; bnn-hw knows {', '.join(sorted(BOARDS))}") from None

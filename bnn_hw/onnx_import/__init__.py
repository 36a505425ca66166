"""Import QONNX models (as Brevitas exports them) into bnn-hw layers, exactly.

    imported = import_onnx("lfc.onnx")      # an Imported: .model (bnn-hw layers), .notes, .output_map
    bnn_hw.save(imported.model, "net.pt")

What maps and how is in :mod:`.mapping`; every node between two layers is executed by ``qonnx``
(:mod:`.evaluate`), so the result equals ``qonnx``'s ``execute_onnx`` bit for bit, which
:func:`import_onnx` checks on random frames before it returns. Needs the ``onnx`` extra
(``pip install 'bnn-hw[onnx]'``).
"""

from __future__ import annotations

import os

import numpy as np

from .check import golden_outputs, verify
from .graph import QonnxGraph
from .mapping import INPUT_RANGES, Imported, map_graph

__all__ = ["import_onnx", "golden_outputs", "Imported", "INPUT_RANGES", "QonnxGraph"]

#: Random frames :func:`import_onnx` checks against ``execute_onnx`` by default.
CHECK_FRAMES = 32


def import_onnx(path: str | os.PathLike, *, input_range: str | None = None, check_frames: int = CHECK_FRAMES,
                seed: int = 0) -> Imported:
    """The bnn-hw model of the QONNX file ``path``, checked against ``execute_onnx`` on ``check_frames``
    random frames. ``input_range`` says how the graph's input holds a pixel (``"unit"``: ``k / 255``,
    ``"byte"``: ``k``; default: ``byte`` if the graph starts by dividing by 255, else ``unit``)."""
    graph = QonnxGraph.load(path)
    imported = map_graph(graph, input_range)
    if check_frames:
        pixels = np.random.default_rng(seed).integers(0, 256, (check_frames, imported.frame_size))
        verify(imported, pixels)
        imported.notes.append(f"checked: {check_frames} random frames give exactly execute_onnx's outputs")
    return imported

"""The import's own check: the imported model against ``qonnx``'s ``execute_onnx`` on frames."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UnsupportedModelError
from .mapping import Imported

__all__ = ["golden_outputs", "verify"]


def golden_outputs(imported: Imported, pixels: np.ndarray) -> np.ndarray:
    """The outputs of the graph ``imported`` was mapped from, by ``execute_onnx`` one frame at a time,
    for frames of pixels (batch, features)."""
    from qonnx.core.onnx_exec import execute_onnx

    graph, inputs = imported.graph, imported.onnx_inputs(pixels)
    return np.stack([np.asarray(execute_onnx(graph.wrapper, {graph.input_name: x[None]})[graph.output_name]).reshape(-1)
                     for x in inputs])


def verify(imported: Imported, pixels: np.ndarray) -> None:
    """Raise if the imported model's outputs (mapped through the output table) differ from the graph's
    by a single bit on any of the frames: an importer bug, never a tolerance."""
    with torch.no_grad():
        scores = imported.model(imported.model_inputs(pixels)).numpy()
    got, want = imported.onnx_outputs(scores), golden_outputs(imported, pixels)
    wrong = np.flatnonzero((got != want).any(axis=1))
    if len(wrong):
        raise UnsupportedModelError(
            f"{imported.graph.path}: the import is not exact on frame {int(wrong[0])} (bnn-hw {got[wrong[0]].tolist()}, "
            f"execute_onnx {want[wrong[0]].tolist()}); this is a bnn-hw bug, please report it with the file")

"""The NumPy reference: a bit-exact executor of the IR (the golden model for the hardware).

Every op's ``reference`` method gives its semantics on a batch; bit vectors travel as 0/1 uint8
arrays and dense layers pack them into 64-bit words and count with ``np.bitwise_count``.
"""

from __future__ import annotations

import numpy as np

from .ir import Graph

__all__ = ["execute", "predict"]


def execute(graph: Graph, *inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Run ``graph`` on a batch (one array per graph input); returns every output by name.

    Images are (batch, height, width, channels); flattened rows in that channels-last order are
    accepted too (for one channel, the data sets' rows of pixels).
    """
    if len(inputs) != len(graph.inputs):
        raise ValueError(f"graph takes {len(graph.inputs)} inputs, got {len(inputs)}")
    values = {}
    for (name, ty), x in zip(graph.inputs, inputs):
        x = np.asarray(x)
        if x.shape[1:] != ty.shape and x.ndim == 2 and x.shape[1] == ty.size:
            x = x.reshape((len(x),) + ty.shape)  # flattened rows, channels-last
        if x.shape[1:] != ty.shape:
            raise ValueError(f"input {name!r} must have shape (batch, {', '.join(map(str, ty.shape))}), "
                             f"not {x.shape}")
        values[name] = x
    for node in graph.nodes:
        values[node.name] = node.op.reference(*(values[i] for i in node.inputs))
    return {name: values[name] for name in graph.outputs}


def predict(graph: Graph, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class indices (B,) and integer scores (B, classes) of a compiled classifier graph."""
    scores_name, class_name = graph.outputs
    out = execute(graph, x)
    return out[class_name][:, 0], out[scores_name]

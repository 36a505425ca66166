"""Running part of an imported graph with the golden model, and reading thresholds off the result.

The importer never reimplements an ONNX or QONNX operator: the nodes between two layers (BatchNorm,
scale ``Mul`` / ``Add``, ``BipolarQuant``, ``MultiThreshold``, ...) are executed by ``qonnx``'s
``execute_onnx`` on every integer sum the layer before them can produce, and the layer's integer
thresholds are read off what it returns. So the import is exact by construction, ties included.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedModelError
from .graph import QonnxGraph, describe

__all__ = ["run_nodes", "binary_levels", "step_thresholds"]


def run_nodes(graph: QonnxGraph, nodes: list, values: np.ndarray) -> np.ndarray:
    """The output of ``nodes`` (each reading the one before; element-wise, so any shape will do) on
    ``values``, executed by ``qonnx`` as a graph of their own with their constant inputs."""
    from onnx import TensorProto, helper, numpy_helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.util.basic import qonnx_make_model

    values = np.ascontiguousarray(values, np.float32)
    source = "chain_in"
    copies, constants = [], {}
    for node in nodes:
        data = graph.data_input(node)
        copy = helper.make_node(node.op_type, [source if t == data else t for t in node.input], list(node.output),
                                name=node.name, domain=node.domain)
        copy.attribute.extend(node.attribute)
        copies.append(copy)
        constants.update({t: graph.constant(t) for t in node.input if t and t != data})
        source = node.output[0]
    model = qonnx_make_model(
        helper.make_graph(copies, "chain", [helper.make_tensor_value_info("chain_in", TensorProto.FLOAT, values.shape)],
                          [helper.make_tensor_value_info(source, TensorProto.FLOAT, None)],
                          initializer=[numpy_helper.from_array(np.asarray(v), name) for name, v in constants.items()]),
        opset_imports=list(graph.wrapper.model.opset_import))
    wrapper = ModelWrapper(model).transform(InferShapes())
    return np.asarray(execute_onnx(wrapper, {"chain_in": values})[source])


def binary_levels(graph: QonnxGraph, node, out: np.ndarray) -> tuple[np.ndarray, float]:
    """``(bits, scale)`` of a chain's output that takes the two values ``-scale`` and ``+scale``
    (bits: ``out > 0``); an error naming the chain's last ``node`` for any other set of values."""
    magnitudes = np.unique(np.abs(out))
    if len(magnitudes) != 1 or magnitudes[0] == 0 or not np.isfinite(magnitudes[0]):
        levels = np.unique(out)
        shown = ", ".join(f"{v:g}" for v in levels[:6])
        raise UnsupportedModelError(
            f"{graph.path}: node {describe(node)} gives {len(levels)} levels ({shown}"
            f"{', ...' if len(levels) > 6 else ''}), not two (+-s); bnn-hw imports binary activations "
            f"(a BipolarQuant, or a MultiThreshold with one threshold and a bipolar output)")
    return out > 0, float(magnitudes[0])


def step_thresholds(domain: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per channel, the integer threshold on ``domain`` (increasing integers, rows of ``bits``)
    where the channel's bits change, and whether they fall: output ``(x >= t) != invert``.
    Constant channels rise. None if some channel's bits change more than once."""
    steps = np.diff(bits.astype(np.int8), axis=0)
    rising, falling = (steps >= 0).all(axis=0), (steps <= 0).all(axis=0)
    if not (rising | falling).all():
        return None
    invert = ~rising
    changed = bits != invert                       # 0...0 1...1 on every channel
    ones = changed.sum(axis=0)
    beyond = int(domain[-1]) + 1
    thresholds = np.where(ones > 0, domain[np.minimum(len(domain) - ones, len(domain) - 1)], beyond)
    return thresholds.astype(np.int64), invert

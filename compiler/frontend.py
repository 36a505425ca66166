"""Frontend: a loaded bnn-hw model (``torch.nn.Sequential``) to the compiler IR.

Each layer becomes one node named after its kind and position in the Sequential (``dense1``,
``batchnorm2``, ...), so error messages and folding files can name layers the way users see them.
Structural problems (sizes that do not chain, a binary layer fed with real values, an unknown layer)
raise :class:`UnsupportedModelError` with one line naming the layer.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from .. import nn as bnn
from ..errors import UnsupportedModelError
from ..model_file import supported_layers
from .ir import Graph, Kind, Node, TensorType, ValidationError, validate
from .ops import ArgMax, BatchNorm, BinaryDense, Scale, Sign, Thermometer

__all__ = ["from_model", "INPUT"]

INPUT = "pixels"


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _input_type(layers) -> TensorType:
    first_dense = next((m for m in layers if isinstance(m, bnn.BinaryLinear)), None)
    if first_dense is None:
        raise UnsupportedModelError("the model has no BinaryLinear layer; there is nothing to compile")
    if isinstance(layers[0], bnn.Thermometer):
        k = len(layers[0].thresholds)
        if first_dense.in_features % k:
            raise UnsupportedModelError(
                f"layer 0 (Thermometer) makes {k} bits per pixel, but the first BinaryLinear takes "
                f"{first_dense.in_features} inputs, not a multiple of {k}")
        return TensorType((first_dense.in_features // k,), Kind.UINT8, 8)
    return TensorType((first_dense.in_features,), Kind.BITS)


def _layer_nodes(index: int, layer: nn.Module, value: str) -> list[Node]:
    if isinstance(layer, bnn.Thermometer):
        if index != 0:
            raise UnsupportedModelError(f"layer {index} (Thermometer) must be the first layer")
        return [Node(f"thermometer{index}", Thermometer(tuple(layer.thresholds)), (value,))]
    if isinstance(layer, bnn.BinaryLinear):
        dense = Node(f"dense{index}", BinaryDense((_numpy(layer.weight) >= 0).astype(np.uint8)), (value,))
        if layer.scale is None:
            return [dense]
        return [dense, Node(f"dense{index}_scale", Scale(_numpy(layer.scale)), (dense.name,))]
    if isinstance(layer, nn.BatchNorm1d):
        op = BatchNorm(_numpy(layer.running_mean), _numpy(layer.running_var), _numpy(layer.weight),
                       _numpy(layer.bias), float(layer.eps))
        return [Node(f"batchnorm{index}", op, (value,))]
    if isinstance(layer, bnn.Sign):
        return [Node(f"sign{index}", Sign(), (value,))]
    raise UnsupportedModelError(f"layer {index} ({type(layer).__name__}) is not supported; "
                                f"bnn-hw supports {supported_layers()}")


def from_model(model: nn.Sequential) -> Graph:
    """Translate ``model`` into an un-streamlined IR graph ending in its scores and their argmax."""
    layers = list(model)
    if not layers:
        raise UnsupportedModelError("the model is empty")
    inputs = ((INPUT, _input_type(layers)),)
    types, nodes, value = dict(inputs), [], INPUT
    for index, layer in enumerate(layers):
        for node in _layer_nodes(index, layer, value):
            try:
                types[node.name] = node.op.infer(tuple(types[i] for i in node.inputs))
            except ValueError as e:
                raise UnsupportedModelError(f"layer {index} ({type(layer).__name__}): {e}") from None
            nodes.append(node)
            value = node.name
    last = types[value]
    if last.kind is not Kind.INT:
        raise UnsupportedModelError(
            f"the model must end with a BinaryLinear whose integer scores are the output, but its last "
            f"layer {len(layers) - 1} ({type(layers[-1]).__name__}) gives {last.kind.value} values")
    nodes.append(Node("argmax", ArgMax(), (value,)))
    try:
        return validate(Graph(inputs, tuple(nodes), (value, "argmax")))
    except ValidationError as e:
        raise UnsupportedModelError(str(e)) from None

"""Frontend: a loaded bnn-hw model (``torch.nn.Sequential``) to the compiler IR.

Each layer becomes one node named after its kind and position in the Sequential (``dense1``,
``conv2``, ``batchnorm3``, ...), so error messages and folding files can name layers the way users see
them; layer 0 of the body of a :class:`~bnn_hw.nn.LogicShortcut` at position 3 is ``conv3_0``, and the
shortcut's join is ``xnor3`` (or ``or3``; ``add3`` for a :class:`~bnn_hw.nn.RealShortcut`), whose inputs are the body's last value and the value the
body started from. A RealShortcut with a :class:`~bnn_hw.nn.ShortcutBranch` (its layer 0) joins the
branch's last value instead: its nodes (``avgpool3_0_0``, ...) follow the body's. ``ImageInput`` declares the input image and ``Flatten`` makes no node: images stream
channels-last, so the BinaryLinear after a Flatten gets its weight columns reordered from PyTorch's
(channels, height, width) to (height, width, channels).
Structural problems (sizes that do not chain, a binary layer fed with real values, an unknown layer)
raise :class:`UnsupportedModelError` with one line naming the layer.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from .. import nn as bnn
from ..errors import ModelFileError, UnsupportedModelError
from ..model_file import LAYER_TYPES, supported_layers
from .ir import Graph, Kind, Node, TensorType, ValidationError, validate
from .ops import (Add, ArgMax, AvgPool, BatchNorm, BinaryConv2d, BinaryDense, ChannelShuffle, Concat, FixedConv,
                  FixedSign, LogicJoin, MaxPool, PixelConv2d, Quantize, Scale, Sign, Thermometer)

__all__ = ["from_model", "INPUT"]

INPUT = "pixels"


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _input_type(layers) -> TensorType:
    first = layers[0]
    if isinstance(first, bnn.ImageInput):
        if len(layers) > 1 and isinstance(layers[1], (bnn.Thermometer, bnn.PixelConv2d)):
            return TensorType((first.height, first.width, first.channels), Kind.UINT8, 8)
        return TensorType((first.height, first.width, first.channels), Kind.BITS)
    if any(isinstance(m, (bnn.BinaryConv2d, nn.MaxPool2d, nn.Flatten)) for m in layers):
        raise UnsupportedModelError("a convolutional model must start with bnn_hw.nn.ImageInput(channels, "
                                    "height, width), which declares the image size to build hardware for")
    first_dense = next((m for m in layers if isinstance(m, bnn.BinaryLinear)), None)
    if first_dense is None:
        raise UnsupportedModelError("the model has no BinaryLinear layer; there is nothing to compile")
    if isinstance(first, bnn.Thermometer):
        k = len(first.thresholds)
        if first_dense.in_features % k:
            raise UnsupportedModelError(
                f"layer 0 (Thermometer) makes {k} bits per pixel, but the first BinaryLinear takes "
                f"{first_dense.in_features} inputs, not a multiple of {k}")
        return TensorType((first_dense.in_features // k,), Kind.UINT8, 8)
    return TensorType((first_dense.in_features,), Kind.BITS)


def _scaled(node: Node, layer) -> list[Node]:
    scale = layer.output_scale()
    if scale is None:
        return [node]
    return [node, Node(f"{node.name}_scale", Scale(_numpy(scale)), (node.name,))]


def _dense_weights(layer: bnn.BinaryLinear, in_type: TensorType, flattened: bool) -> np.ndarray:
    """The layer's weight bits, columns in the channels-last order in which its input streams."""
    weights = (_numpy(layer.weight) >= 0).astype(np.uint8)
    if len(in_type.shape) == 1:
        return weights
    if not flattened:
        raise UnsupportedModelError("a BinaryLinear after an image needs a Flatten before it")
    h, w, c = in_type.shape
    if weights.shape[1] != h * w * c:
        return weights  # the size check names the problem
    # torch flattens (channels, height, width); the hardware streams (height, width, channels)
    return weights.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(len(weights), -1)


def _layer_nodes(label: str, layer: nn.Module, value: str, in_type: TensorType,
                 flattened: bool) -> list[Node]:
    suffix = label.replace(".", "_")
    if isinstance(layer, bnn.ImageInput):
        if label != "0":
            raise UnsupportedModelError(f"layer {label} (ImageInput) must be the first layer")
        return []
    if isinstance(layer, bnn.Thermometer):
        if value != INPUT:
            raise UnsupportedModelError(f"layer {label} (Thermometer) must be the first layer "
                                        f"(after ImageInput, if any)")
        return [Node(f"thermometer{suffix}", Thermometer(tuple(layer.thresholds)), (value,))]
    if isinstance(layer, bnn.BinaryLinear):
        dense = Node(f"dense{suffix}", BinaryDense(_dense_weights(layer, in_type, flattened)), (value,))
        return _scaled(dense, layer)
    if isinstance(layer, bnn.BinaryConv2d):
        weights = (_numpy(layer.weight) >= 0).astype(np.uint8).transpose(0, 2, 3, 1)  # (M, kh, kw, Cg)
        if isinstance(layer, bnn.PixelConv2d):
            if value != INPUT:
                raise UnsupportedModelError(f"layer {label} (PixelConv2d) must come right after ImageInput")
            op = PixelConv2d(weights, layer.stride, layer.padding)
        else:
            op = BinaryConv2d(weights, layer.stride, layer.padding, layer.pad_value, layer.groups,
                              replicate=layer.padding_mode == "replicate")
        return _scaled(Node(f"conv{suffix}", op, (value,)), layer)
    if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        op = BatchNorm(_numpy(layer.running_mean), _numpy(layer.running_var), _numpy(layer.weight),
                       _numpy(layer.bias), float(layer.eps))
        return [Node(f"batchnorm{suffix}", op, (value,))]
    if isinstance(layer, bnn.Sign):
        return [Node(f"sign{suffix}", FixedSign() if in_type.kind is Kind.INT else Sign(), (value,))]
    if isinstance(layer, bnn.FixedPoint):
        return [Node(f"fixed{suffix}", Quantize(layer.frac_bits, layer.bits), (value,))]
    if isinstance(layer, bnn.ChannelShuffle):
        return [Node(f"shuffle{suffix}", ChannelShuffle(layer.groups), (value,))]
    if isinstance(layer, bnn.MultiSliceSign):
        return [Node(f"sign{suffix}", Sign(tuple(layer.offsets)), (value,))]
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        name = type(layer).__name__
        try:
            kernel = LAYER_TYPES[name][1](layer)["kernel_size"]
        except ModelFileError as e:
            raise UnsupportedModelError(f"layer {label} ({name}): {e}") from None
        if isinstance(layer, nn.AvgPool2d):
            return [Node(f"avgpool{suffix}", AvgPool(kernel), (value,))]
        return [Node(f"maxpool{suffix}", MaxPool(kernel), (value,))]
    if isinstance(layer, bnn.FixedPointConv2d):
        weights = _numpy(layer.fixed_weight() * float(2 ** layer.weight_frac_bits))[:, :, 0, 0]
        return [Node(f"conv{suffix}", FixedConv(weights.astype(np.int64), layer.weight_frac_bits, in_type.frac),
                     (value,))]
    if isinstance(layer, nn.Flatten):
        return []
    raise UnsupportedModelError(f"layer {label} ({type(layer).__name__}) is not supported; "
                                f"bnn-hw supports {supported_layers()}")


def _sequence_nodes(layers, prefix: str, value: str, types: dict, nodes: list, first: int = 0) -> str:
    """Append the nodes of ``layers`` (labelled ``prefix`` + position, counted from ``first``)
    applied to ``value``, typing them into ``types``; returns the last value."""
    for index, layer in enumerate(layers):
        label = f"{prefix}{index + first}"
        flattened = index > 0 and isinstance(layers[index - 1], nn.Flatten)
        if flattened and not isinstance(layer, bnn.BinaryLinear):
            raise UnsupportedModelError(f"layer {label} ({type(layer).__name__}): Flatten must be followed "
                                        f"directly by a BinaryLinear")
        if isinstance(layer, bnn.ShortcutBranch):
            raise UnsupportedModelError(f"layer {label} (ShortcutBranch) must be the first layer of a RealShortcut")
        if isinstance(layer, (bnn.LogicShortcut, bnn.ConcatShortcut, bnn.RealShortcut)):
            branch = layer.branch if isinstance(layer, bnn.RealShortcut) else None
            start = 0 if branch is None else 1
            body = _sequence_nodes(list(layer)[start:], f"{label}.", value, types, nodes, start)
            shortcut = value if branch is None else _sequence_nodes(list(branch), f"{label}.0.", value, types, nodes)
            if isinstance(layer, bnn.LogicShortcut):
                join, op = layer.op, LogicJoin(layer.op)
            elif isinstance(layer, bnn.RealShortcut):
                join, op = "add", Add(types[body].shape[-1])
            else:
                join, op = "concat", Concat(types[value].shape[-1])
            new = [Node(f"{join}{label.replace('.', '_')}", op, (body, shortcut))]
        else:
            new = _layer_nodes(label, layer, value, types[value], flattened)
        for node in new:
            try:
                types[node.name] = node.op.infer(tuple(types[i] for i in node.inputs))
            except ValueError as e:
                raise UnsupportedModelError(f"layer {label} ({type(layer).__name__}): {e}") from None
            nodes.append(node)
            value = node.name
    return value


def from_model(model: nn.Sequential) -> Graph:
    """Translate ``model`` into an un-streamlined IR graph ending in its scores and their argmax."""
    layers = list(model)
    if not layers:
        raise UnsupportedModelError("the model is empty")
    inputs = ((INPUT, _input_type(layers)),)
    types, nodes = dict(inputs), []
    value = _sequence_nodes(layers, "", INPUT, types, nodes)
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

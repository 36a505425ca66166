"""One QONNX node (or the input's nodes) to one bnn-hw layer, with the checks that keep it exact.

- The input's element-wise nodes, run on all 256 pixel values: a :class:`~bnn_hw.nn.Thermometer`.
- ``MatMul`` / ``Gemm`` (no bias) and ``Conv`` (square kernel, zero padding, groups) whose weights
  take two values ``+-s`` per output channel: a :class:`~bnn_hw.nn.BinaryLinear` or
  :class:`~bnn_hw.nn.BinaryConv2d` of the weights' signs. Their sums are exact in float32 only when
  ``s`` times the input's scale is a power of two; that is checked.
- ``MaxPool`` (non-overlapping, no padding) of binary values: ``torch.nn.MaxPool2d``.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import nn as bnn
from ..errors import UnsupportedModelError
from .evaluate import binary_levels, run_nodes, step_thresholds
from .graph import QonnxGraph, describe

__all__ = ["ELEMENTWISE", "SHAPES", "DENSE", "CONV", "POOLS", "check_elementwise", "elementwise", "input_layer",
           "dense_layer", "conv_layer", "pool_layer"]

#: Nodes that act on each element alone (with constants that broadcast), so they may be executed on
#: a table of values instead of a frame.
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "Identity", "Relu", "Clip", "BatchNormalization",
                         "BipolarQuant", "Quant", "Trunc", "MultiThreshold"})
#: Nodes that only change a tensor's shape; they must keep the elements' order.
SHAPES = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})
DENSE = frozenset({"MatMul", "Gemm"})
CONV = frozenset({"Conv"})
POOLS = frozenset({"MaxPool"})


def _fail(graph: QonnxGraph, message: str):
    raise UnsupportedModelError(f"{graph.path}: {message}")


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def check_elementwise(graph: QonnxGraph, node, channels: int | None) -> None:
    """An element-wise node whose constants are scalars (``channels`` None: on pixels) or per channel."""
    if node.op_type in SHAPES:
        return
    if node.op_type not in ELEMENTWISE:
        supported = ", ".join(sorted(ELEMENTWISE | SHAPES | POOLS))
        _fail(graph, f"node {describe(node)} is not supported; bnn-hw imports MatMul / Gemm / Conv layers with "
                     f"binary weights and, between them, {supported}")
    data = graph.data_input(node)
    for tensor in node.input:
        if not tensor or tensor == data:
            continue
        value = graph.constant(tensor)
        if node.op_type == "MultiThreshold":
            size = value.shape[0] if value.ndim == 2 else -1
        else:
            size = value.size
        if size not in (1, channels or 1):
            what = "one value" if channels is None else f"one value or one per channel ({channels})"
            _fail(graph, f"node {describe(node)}: constant {tensor!r} of shape {value.shape} must be {what}")


def elementwise(nodes: list) -> list:
    """The nodes that compute (shape nodes left out)."""
    return [n for n in nodes if n.op_type not in SHAPES]


def _is_power_of_two(values: np.ndarray) -> bool:
    mantissa, _ = np.frexp(np.asarray(values, np.float64))
    return bool(np.all(mantissa == 0.5))


def input_layer(graph: QonnxGraph, nodes: list, pixels: np.ndarray, input_range: str
                ) -> tuple[bnn.Thermometer, float, str]:
    """The Thermometer of the input's nodes run on every pixel value, the bits' scale, and a note."""
    for node in nodes:
        if node.op_type in POOLS:
            _fail(graph, f"node {describe(node)} pools the input before the first layer; bnn-hw pools binary "
                         f"values after a layer")
        check_elementwise(graph, node, None)
    work = elementwise(nodes)
    if not work:
        _fail(graph, "the input goes into the first layer as it is; bnn-hw imports binary inputs (binarise the "
                     "pixels, e.g. with a BipolarQuant)")
    out = run_nodes(graph, work, pixels).reshape(-1)
    if len(np.unique(out)) > 2:
        _fail(graph, f"the first layer's input has {len(np.unique(out))} levels after node {describe(work[-1])}; "
                     f"bnn-hw's imported layers take bits (binarise the input, e.g. with a BipolarQuant)")
    bits, scale = binary_levels(graph, work[-1], out)
    found = step_thresholds(np.arange(256), bits[:, None])
    if found is None or found[1][0] or not 1 <= found[0][0] <= 255:
        _fail(graph, f"the input binarisation ({describe(work[-1])}) is not 'pixel >= t' for a t in 1..255, which "
                     f"is what bnn-hw's Thermometer computes")
    t = int(found[0][0])
    note = f"input: pixels ({input_range}) binarised at pixel >= {t} by {describe(work[-1])}"
    return bnn.Thermometer([t]), scale, note


def _weight_values(graph: QonnxGraph, node) -> np.ndarray:
    """The constant weights of a layer node (its second input), after a check of their quantizer."""
    name = node.input[1]
    if not graph.is_constant(name):
        _fail(graph, f"node {describe(node)} multiplies two computed tensors; its second input must be weights")
    producer = graph.producer(name)
    if producer is not None and producer.op_type == "Quant":
        bits = float(graph.constant(producer.input[3]).reshape(()))
        if bits != 1:
            _fail(graph, f"node {describe(producer)} quantizes {describe(node)}'s weights to {bits:g} bits; bnn-hw "
                         f"imports binary weights (BipolarQuant)")
    if len(node.input) > 2 and node.input[2] and np.any(graph.constant(node.input[2]) != 0):
        _fail(graph, f"node {describe(node)} has a bias; bnn-hw imports binary layers without one (bias=False; the "
                     f"BatchNorm after it has its own)")
    return np.asarray(graph.constant(name), np.float32)


def _signs(graph: QonnxGraph, node, w: np.ndarray, in_scale: float) -> tuple[torch.Tensor, np.ndarray]:
    """The +-1 weights of ``w`` (output channels first) and each channel's sum scale: weight scale
    times input scale, which must be a power of two."""
    flat = w.reshape(len(w), -1)
    magnitude = np.abs(flat)
    scale = magnitude.max(axis=1)
    if not (magnitude == scale[:, None]).all() or (scale == 0).any():
        _fail(graph, f"node {describe(node)}'s weights take more than two values (+-s) in an output channel; "
                     f"bnn-hw imports binary weights")
    sum_scale = (scale * np.float32(in_scale)).astype(np.float32)
    if not _is_power_of_two(sum_scale):
        _fail(graph, f"node {describe(node)}: weight scale x input scale = {sum_scale[0]:g} is not a power of two, so "
                     f"float32 rounds the layer's sums and no exact integer form exists; export with scale 1.0 "
                     f"(e.g. scaling_const=1.0)")
    return torch.from_numpy(np.where(w > 0, 1.0, -1.0).astype(np.float32)), sum_scale


def dense_layer(graph: QonnxGraph, node, in_scale: float) -> tuple[bnn.BinaryLinear, np.ndarray]:
    """The BinaryLinear of a MatMul / Gemm node (Gemm's ``transB`` either way) and its sum scales."""
    w = _weight_values(graph, node)
    if node.op_type == "Gemm":
        attrs = _attrs(node)
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
            _fail(graph, f"node {describe(node)} has transA or alpha != 1; export the layer as x @ W")
        w = w if attrs.get("transB", 0) else w.T
    else:
        w = w.T
    shape = graph.shape(graph.data_input(node))
    if len(shape) != 2 or shape[1] != w.shape[1]:
        _fail(graph, f"node {describe(node)} takes a tensor of shape {shape}; bnn-hw imports dense layers on flat "
                     f"vectors (1, {w.shape[1]})")
    signs, sum_scale = _signs(graph, node, w, in_scale)
    layer = bnn.BinaryLinear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(signs)
    return layer, sum_scale


def conv_layer(graph: QonnxGraph, node, in_scale: float) -> tuple[bnn.BinaryConv2d, np.ndarray]:
    """The BinaryConv2d (zero padding) of a Conv node and its sum scales."""
    w = _weight_values(graph, node)
    attrs = _attrs(node)
    shape = graph.shape(graph.data_input(node))
    kernel = list(attrs.get("kernel_shape", w.shape[2:]))
    strides, pads = list(attrs.get("strides", [1, 1])), list(attrs.get("pads", [0, 0, 0, 0]))
    pad_mode = attrs.get("auto_pad", b"NOTSET")
    if (len(shape) != 4 or len(kernel) != 2 or kernel[0] != kernel[1] or strides[0] != strides[1]
            or len(set(pads)) != 1 or set(attrs.get("dilations", [1, 1])) != {1}
            or pad_mode not in (b"NOTSET", "NOTSET")):
        _fail(graph, f"node {describe(node)}: bnn-hw imports 2-D convolutions with a square kernel, one stride, the "
                     f"same explicit padding on every side and no dilation")
    groups = int(attrs.get("group", 1))
    signs, sum_scale = _signs(graph, node, w, in_scale)
    layer = bnn.BinaryConv2d(shape[1], w.shape[0], kernel[0], stride=strides[0], padding=pads[0], pad_value=0,
                             groups=groups)
    with torch.no_grad():
        layer.weight.copy_(signs)
    return layer, sum_scale


def pool_layer(graph: QonnxGraph, node) -> torch.nn.MaxPool2d:
    """A non-overlapping MaxPool without padding."""
    attrs = _attrs(node)
    kernel, strides = list(attrs.get("kernel_shape", [])), list(attrs.get("strides", [1, 1]))
    if (len(kernel) != 2 or len(set(kernel)) != 1 or strides != kernel or set(attrs.get("pads", [0])) != {0}
            or attrs.get("ceil_mode", 0) or set(attrs.get("dilations", [1])) != {1}):
        _fail(graph, f"node {describe(node)}: bnn-hw imports non-overlapping max pooling (strides = kernel_shape, "
                     f"square, no padding, no ceil_mode)")
    return torch.nn.MaxPool2d(kernel[0])

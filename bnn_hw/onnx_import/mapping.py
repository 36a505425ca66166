"""QONNX graph -> bnn-hw layers: the input binarisation, the binary MatMul / Gemm layers and the
nodes between them, each mapped exactly or rejected with one line naming the node.

The graph is read as segments along its one chain of nodes:

- the *input*: element-wise nodes on the pixels (``Div`` by 255, ``2x - 1``, an 8-bit ``Quant``)
  ending in a binarisation. They are executed on all 256 pixel values; the bits they give must rise
  with the pixel, and become a :class:`~bnn_hw.nn.Thermometer` with one threshold.
- a *layer*: ``MatMul`` or ``Gemm`` (no bias) whose weights are constants or a quantizer of constants
  taking two values ``+-s`` per output channel. Its sums are exact in float32 when ``s`` times the
  input's scale is a power of two, which the importer checks: it becomes a
  :class:`~bnn_hw.nn.BinaryLinear` of the weights' signs.
- the nodes *after a layer* (BatchNormalization, ``Mul`` / ``Add`` / ``Sub`` / ``Div``, quantizers,
  ``MultiThreshold``): executed on every sum the layer can produce. Before another layer they must
  give a binary activation, read off as per-channel integer thresholds (a :class:`~bnn_hw.nn.Threshold`);
  after the last layer they must map the scores one strictly monotonic way for every class (a
  per-tensor scale and offset such as FINN's ``TensorNorm``), which keeps the arg-max (a falling map
  negates the last layer's weights), and the map is recorded.

Shape nodes that only flatten (``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``) pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .. import nn as bnn
from ..errors import UnsupportedModelError
from .evaluate import binary_levels, run_nodes, step_thresholds
from .graph import QonnxGraph, describe

__all__ = ["Imported", "INPUT_RANGES", "map_graph"]

#: Nodes that act on each element alone (with constants that broadcast), so they may be executed on
#: a table of values instead of a frame.
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "Identity", "Relu", "Clip", "BatchNormalization",
                         "BipolarQuant", "Quant", "Trunc", "MultiThreshold"})
#: Nodes that only change a tensor's shape; they must keep the elements' order.
SHAPES = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})
#: The layers.
LAYERS = frozenset({"MatMul", "Gemm"})

#: How the graph's input holds a pixel ``k`` (0..255): ``unit``: ``k / 255`` in float32 (as
#: torchvision's ``ToTensor`` gives, which Brevitas training scripts feed); ``byte``: ``k`` itself
#: (graphs that start with a division by 255).
INPUT_RANGES = ("unit", "byte")


@dataclass
class Imported:
    """A graph mapped to bnn-hw layers.

    ``model`` computes the last layer's integer scores; ``output_map[p]`` is the graph's output for
    the score ``2p - N`` (``N`` = ``model[-1].in_features``), the same for every class, increasing.
    """

    model: torch.nn.Sequential
    output_map: np.ndarray
    input_range: str
    input_shape: tuple[int, ...]
    notes: list[str] = field(default_factory=list)

    def onnx_outputs(self, scores: np.ndarray) -> np.ndarray:
        """The graph's outputs for bnn-hw's integer ``scores`` (any shape)."""
        n = self.model[-1].in_features
        return self.output_map[(np.asarray(scores, np.int64) + n) // 2]

    def onnx_inputs(self, pixels: np.ndarray) -> np.ndarray:
        """Frames of pixels ``0..255`` (batch, features) as the graph's input takes them (float32,
        the graph's input shape with the batch first)."""
        x = np.asarray(pixels).astype(np.float32)
        if self.input_range == "unit":
            x = x / np.float32(255)
        return x.reshape((len(x),) + self.input_shape[1:])


def _pixels(input_range: str) -> np.ndarray:
    k = np.arange(256, dtype=np.float32)
    return k / np.float32(255) if input_range == "unit" else k


def _detect_range(graph: QonnxGraph, nodes: list) -> str:
    """``byte`` if the first element-wise node divides by 255 (or multiplies by 1/255), else ``unit``."""
    first = next((n for n in nodes if n.op_type not in SHAPES), None)
    if first is not None and first.op_type in ("Div", "Mul"):
        constants = [graph.constant(t) for t in first.input if t != graph.data_input(first)]
        if constants and constants[0].size == 1:
            value = float(constants[0].reshape(()))
            if (first.op_type == "Div" and value == 255) or (first.op_type == "Mul"
                                                              and value == float(np.float32(1 / 255))):
                return "byte"
    return "unit"


def _check_elementwise(graph: QonnxGraph, node, channels: int | None) -> None:
    """An element-wise node whose constants are scalars (``channels`` None: on pixels) or per channel."""
    if node.op_type in SHAPES:
        return
    if node.op_type not in ELEMENTWISE:
        raise UnsupportedModelError(
            f"{graph.path}: node {describe(node)} is not supported; bnn-hw imports MatMul / Gemm layers with "
            f"binary weights and, between them, {', '.join(sorted(ELEMENTWISE | SHAPES))}")
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
            raise UnsupportedModelError(f"{graph.path}: node {describe(node)}: constant {tensor!r} of shape "
                                        f"{value.shape} must be {what}")


def _elementwise(nodes: list) -> list:
    return [n for n in nodes if n.op_type not in SHAPES]


def _is_power_of_two(values: np.ndarray) -> bool:
    mantissa, _ = np.frexp(np.asarray(values, np.float64))
    return bool(np.all(mantissa == 0.5))


def _input_layer(graph: QonnxGraph, nodes: list, input_range: str) -> tuple[bnn.Thermometer, float, str]:
    """The Thermometer of the input nodes, the bits' scale, and a note."""
    for node in nodes:
        _check_elementwise(graph, node, None)
    work = _elementwise(nodes)
    if not work:
        raise UnsupportedModelError(f"{graph.path}: the input goes into the first layer as it is; bnn-hw imports "
                                    f"binary inputs (binarise the pixels, e.g. with a BipolarQuant)")
    out = run_nodes(graph, work, _pixels(input_range)).reshape(-1)
    if len(np.unique(out)) > 2:
        raise UnsupportedModelError(
            f"{graph.path}: the first layer's input has {len(np.unique(out))} levels after node "
            f"{describe(work[-1])}; bnn-hw's imported dense layers take bits (binarise the input, e.g. with a "
            f"BipolarQuant)")
    bits, scale = binary_levels(graph, work[-1], out)
    found = step_thresholds(np.arange(256), bits[:, None])
    if found is None or found[1][0] or not 1 <= found[0][0] <= 255:
        raise UnsupportedModelError(f"{graph.path}: the input binarisation ({describe(work[-1])}) is not 'pixel >= t' "
                                    f"for a t in 1..255, which is what bnn-hw's Thermometer computes")
    t = int(found[0][0])
    return bnn.Thermometer([t]), scale, f"input: pixels ({input_range}) binarised at pixel >= {t} by {describe(work[-1])}"


def _weights(graph: QonnxGraph, node) -> np.ndarray:
    """A layer's weights as (out, in): Gemm's ``transB`` applied; its bias must be absent or zero."""
    attrs = {a.name: a for a in node.attribute}
    weight_name = node.input[1]
    if not graph.is_constant(weight_name):
        raise UnsupportedModelError(f"{graph.path}: node {describe(node)} multiplies two computed tensors; its "
                                    f"second input must be weights")
    producer = graph.producer(weight_name)
    if producer is not None and producer.op_type == "Quant":
        bits = float(graph.constant(producer.input[3]).reshape(()))
        if bits != 1:
            raise UnsupportedModelError(f"{graph.path}: node {describe(producer)} quantizes {describe(node)}'s weights "
                                        f"to {bits:g} bits; bnn-hw imports binary weights (BipolarQuant)")
    w = np.asarray(graph.constant(weight_name), np.float32)
    if node.op_type == "Gemm":
        ints = {k: a.i for k, a in attrs.items() if k in ("transA", "transB")}
        floats = {k: a.f for k, a in attrs.items() if k in ("alpha", "beta")}
        if ints.get("transA", 0) or floats.get("alpha", 1.0) != 1.0:
            raise UnsupportedModelError(f"{graph.path}: node {describe(node)} has transA or alpha != 1; "
                                        f"export the layer as x @ W")
        if len(node.input) > 2 and node.input[2] and np.any(graph.constant(node.input[2]) != 0):
            raise UnsupportedModelError(f"{graph.path}: node {describe(node)} has a bias; bnn-hw imports binary "
                                        f"layers without one (bias=False; the BatchNorm after it has its own)")
        return w if ints.get("transB", 0) else w.T
    return w.T


def _dense_layer(graph: QonnxGraph, node, in_scale: float) -> tuple[bnn.BinaryLinear, np.ndarray]:
    """The BinaryLinear of a MatMul / Gemm node and the real scale of its output per unit of integer sum."""
    shape = graph.shape(graph.data_input(node))
    w = _weights(graph, node)
    if len(shape) != 2 or shape[1] != w.shape[1]:
        raise UnsupportedModelError(f"{graph.path}: node {describe(node)} takes a tensor of shape {shape}; bnn-hw "
                                    f"imports dense layers on flat vectors (1, {w.shape[1]})")
    magnitude = np.abs(w)
    scale = magnitude.max(axis=1)
    if not (magnitude == scale[:, None]).all() or (scale == 0).any():
        raise UnsupportedModelError(f"{graph.path}: node {describe(node)}'s weights take more than two values "
                                    f"(+-s) in an output channel; bnn-hw imports binary weights")
    sum_scale = (scale * np.float32(in_scale)).astype(np.float32)
    if not _is_power_of_two(sum_scale):
        raise UnsupportedModelError(
            f"{graph.path}: node {describe(node)}: weight scale x input scale = {sum_scale[0]:g} is not a power of "
            f"two, so float32 rounds the layer's sums and no exact integer form exists; export with scale 1.0 "
            f"(e.g. scaling_const=1.0)")
    layer = bnn.BinaryLinear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.where(w > 0, 1.0, -1.0).astype(np.float32)))
    return layer, sum_scale


def _sum_domain(n_inputs: int, sum_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every integer sum ``2p - N`` of a binary layer, and the real tensor the graph holds for it per
    channel (exact: the scales are powers of two)."""
    dots = 2 * np.arange(n_inputs + 1) - n_inputs
    return dots, (dots[:, None] * sum_scale[None, :]).astype(np.float32)


def map_graph(graph: QonnxGraph, input_range: str | None = None) -> Imported:
    """Map ``graph`` to bnn-hw layers (module docstring); one-line errors naming the node that cannot be."""
    nodes = graph.chain()
    starts = [i for i, n in enumerate(nodes) if n.op_type in LAYERS]
    if not starts:
        raise UnsupportedModelError(f"{graph.path}: no MatMul or Gemm layer; bnn-hw imports binary MLPs "
                                    f"(nodes: {', '.join(sorted({n.op_type for n in nodes}))})")
    if input_range is None:
        input_range = _detect_range(graph, nodes[:starts[0]])
    elif input_range not in INPUT_RANGES:
        raise ValueError(f"input_range must be one of {INPUT_RANGES}, not {input_range!r}")
    thermometer, scale, note = _input_layer(graph, nodes[:starts[0]], input_range)
    layers, notes = [thermometer], [note]
    output_map = None
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(nodes)
        dense, sum_scale = _dense_layer(graph, nodes[start], scale)
        after = nodes[start + 1:end]
        for node in after:
            _check_elementwise(graph, node, dense.out_features)
        work = _elementwise(after)
        dots, sums = _sum_domain(dense.in_features, sum_scale)
        out = run_nodes(graph, work, sums) if work else sums
        label = f"layer {len(layers)}: {describe(nodes[start])} {dense.in_features}x{dense.out_features}"
        layers.append(dense)
        if end < len(nodes):
            bits, scale = binary_levels(graph, work[-1] if work else nodes[start], out)
            found = step_thresholds(dots, bits)
            if found is None:
                raise UnsupportedModelError(f"{graph.path}: the activation after {describe(nodes[start])} is not "
                                            f"monotonic in the layer's sum, so it is not a threshold")
            threshold = bnn.Threshold(dense.out_features)
            with torch.no_grad():
                threshold.thresholds.copy_(torch.from_numpy(found[0]))
                threshold.invert.copy_(torch.from_numpy(found[1]))
            layers.append(threshold)
            notes.append(f"{label}, then {' + '.join(n.op_type for n in work)} as integer thresholds "
                         f"({int(found[1].sum())} of {dense.out_features} channels falling)")
        else:
            steps = np.diff(out[:, 0])
            if not (out == out[:, :1]).all() or not ((steps > 0).all() or (steps < 0).all()):
                raise UnsupportedModelError(
                    f"{graph.path}: the nodes after the last layer ({' + '.join(n.op_type for n in work) or 'none'}) "
                    f"do not map the scores one strictly monotonic way for every class, so the class order would "
                    f"change; bnn-hw imports a per-tensor scale and offset there (or none)")
            output_map = out[:, 0].copy()
            if steps[0] < 0:   # a negative scale: negated weights give the scores in the output's order
                with torch.no_grad():
                    dense.weight.neg_()
                output_map = output_map[::-1].copy()
            notes.append(f"{label}, integer scores" + (f"; the output's {' + '.join(n.op_type for n in work)} "
                                                        f"(one monotonic map for all classes) is kept as a table"
                                                        + (", its negative scale folded into the weights"
                                                           if steps[0] < 0 else "") if work else ""))
    model = torch.nn.Sequential(*layers).eval()
    return Imported(model, output_map, input_range, graph.shape(graph.input_name), notes)

"""QONNX graph -> bnn-hw layers: the graph read as segments along its one chain of nodes, each
mapped exactly (:mod:`.layers`) or rejected with one line naming the node.

- the *input*: element-wise nodes on the pixels (``Div`` by 255, ``2x - 1``, an 8-bit ``Quant``)
  ending in a binarisation, executed on all 256 pixel values: a :class:`~bnn_hw.nn.Thermometer`
  (after an :class:`~bnn_hw.nn.ImageInput` when the first layer is a convolution).
- a *layer*: ``MatMul`` / ``Gemm`` / ``Conv`` with binary weights (:mod:`.layers`).
- the nodes *after a layer* (BatchNormalization, ``Mul`` / ``Add`` / ``Sub`` / ``Div``, quantizers,
  ``MultiThreshold``): executed on every sum the layer can produce. Before another layer they must
  give a binary activation, read off as per-channel integer thresholds (a :class:`~bnn_hw.nn.Threshold`),
  optionally followed by a ``MaxPool`` and a flattening. After the last layer (a dense one) they
  must map the scores one strictly monotonic way for every class (a per-tensor scale and offset
  such as FINN's ``TensorNorm``), which keeps the arg-max (a falling map negates the last layer's
  weights); the map is recorded.

Shape nodes that only flatten (``Reshape``, ``Flatten``, ``Squeeze``, ``Unsqueeze``) pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

import numpy as np
import torch

from .. import nn as bnn
from ..errors import UnsupportedModelError
from .evaluate import binary_levels, run_nodes, step_thresholds
from .graph import QonnxGraph, describe
from .layers import (CONV, DENSE, POOLS, SHAPES, check_elementwise, conv_layer, dense_layer, elementwise, input_layer,
                     pool_layer)

__all__ = ["Imported", "INPUT_RANGES", "map_graph"]

#: How the graph's input holds a pixel ``k`` (0..255): ``unit``: ``k / 255`` in float32 (as
#: torchvision's ``ToTensor`` gives, which Brevitas training scripts feed); ``byte``: ``k`` itself
#: (graphs that start with a division by 255).
INPUT_RANGES = ("unit", "byte")


@dataclass
class Imported:
    """A graph mapped to bnn-hw layers.

    ``model`` computes the last layer's integer scores; ``output_map[p]`` is the graph's output for
    the score ``2p - N`` (``N`` = ``model[-1].in_features``), the same for every class, monotonic.
    ``graph`` is the cleaned-up graph it was mapped from, which the golden model runs
    (:func:`~bnn_hw.onnx_import.golden_outputs`). Frames are bnn-hw's: pixels ``0..255``, an image
    channels-last and flattened.
    """

    model: torch.nn.Sequential
    output_map: np.ndarray
    input_range: str
    graph: QonnxGraph
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The graph's input shape, batch first."""
        return self.graph.shape(self.graph.input_name)

    @property
    def image(self) -> bool:
        """The model starts with an ImageInput (its first layer is a convolution)."""
        return isinstance(self.model[0], bnn.ImageInput)

    @property
    def frame_size(self) -> int:
        return prod(self.input_shape[1:])

    def onnx_outputs(self, scores: np.ndarray) -> np.ndarray:
        """The graph's outputs for bnn-hw's integer ``scores`` (any shape)."""
        n = self.model[-1].in_features
        return self.output_map[(np.asarray(scores, np.int64) + n) // 2]

    def _planar(self, pixels: np.ndarray) -> np.ndarray:
        """Frames as float32 in the graph's layout (images channels-first)."""
        x = np.asarray(pixels).astype(np.float32)
        if self.image:
            c, h, w = self.model[0].shape
            x = x.reshape(len(x), h, w, c).transpose(0, 3, 1, 2)
        return x

    def onnx_inputs(self, pixels: np.ndarray) -> np.ndarray:
        """Frames as the graph's input takes them: float32, the graph's input shape, batch first."""
        x = self._planar(pixels)
        if self.input_range == "unit":
            x = x / np.float32(255)
        return np.ascontiguousarray(x.reshape((len(x),) + self.input_shape[1:]))

    def model_inputs(self, pixels: np.ndarray) -> torch.Tensor:
        """Frames as ``model`` takes them: pixel values, images (batch, channels, height, width)."""
        return torch.from_numpy(np.ascontiguousarray(self._planar(pixels)))


def _pixels(input_range: str) -> np.ndarray:
    k = np.arange(256, dtype=np.float32)
    return k / np.float32(255) if input_range == "unit" else k


def _detect_range(graph: QonnxGraph, nodes: list) -> str:
    """``byte`` if the first element-wise node divides by 255 (or multiplies by 1/255), else ``unit``."""
    first = next((n for n in nodes if n.op_type not in SHAPES), None)
    if first is not None and first.op_type in ("Div", "Mul"):
        data = graph.data_input(first)
        constants = [graph.constant(t) for t in first.input if t != data]
        if constants and constants[0].size == 1:
            value = float(constants[0].reshape(()))
            if (first.op_type == "Div" and value == 255) or (first.op_type == "Mul"
                                                              and value == float(np.float32(1 / 255))):
                return "byte"
    return "unit"


def _activation(graph: QonnxGraph, last, dots: np.ndarray, out: np.ndarray) -> tuple[bnn.Threshold, float]:
    """The Threshold layer of a chain's binary output ``out`` (rows: the sums ``dots``) and its scale."""
    bits, scale = binary_levels(graph, last, out)
    found = step_thresholds(dots, bits)
    if found is None:
        raise UnsupportedModelError(f"{graph.path}: the activation ending in {describe(last)} is not monotonic in the "
                                    f"layer's sum, so it is not a threshold")
    threshold = bnn.Threshold(out.shape[1])
    with torch.no_grad():
        threshold.thresholds.copy_(torch.from_numpy(found[0]))
        threshold.invert.copy_(torch.from_numpy(found[1]))
    return threshold, scale


def _scores_map(graph: QonnxGraph, dense: bnn.BinaryLinear, work: list, out: np.ndarray) -> np.ndarray:
    """The table from the last layer's scores to the graph's outputs; negates ``dense``'s weights
    where the map falls."""
    steps = np.diff(out[:, 0])
    if not (out == out[:, :1]).all() or not ((steps > 0).all() or (steps < 0).all()):
        raise UnsupportedModelError(
            f"{graph.path}: the nodes after the last layer ({' + '.join(n.op_type for n in work) or 'none'}) do not "
            f"map the scores one strictly monotonic way for every class, so the class order would change; bnn-hw "
            f"imports a per-tensor scale and offset there (or none)")
    if steps[0] > 0:
        return out[:, 0].copy()
    with torch.no_grad():   # a negative scale: negated weights give the scores in the output's order
        dense.weight.neg_()
    return out[::-1, 0].copy()


def map_graph(graph: QonnxGraph, input_range: str | None = None) -> Imported:
    """Map ``graph`` to bnn-hw layers (module docstring); one-line errors naming the node that cannot be."""
    nodes = graph.chain()
    starts = [i for i, n in enumerate(nodes) if n.op_type in DENSE | CONV]
    if not starts or nodes[starts[-1]].op_type not in DENSE:
        raise UnsupportedModelError(f"{graph.path}: the last layer must be a MatMul or Gemm giving the class scores "
                                    f"(nodes: {', '.join(sorted({n.op_type for n in nodes}))})")
    in_shape = graph.shape(graph.input_name)
    image = nodes[starts[0]].op_type in CONV
    if image and len(in_shape) != 4:
        raise UnsupportedModelError(f"{graph.path}: a convolutional graph needs an image input (1, C, H, W), not "
                                    f"{in_shape}")
    if input_range is None:
        input_range = _detect_range(graph, nodes[:starts[0]])
    elif input_range not in INPUT_RANGES:
        raise ValueError(f"input_range must be one of {INPUT_RANGES}, not {input_range!r}")
    thermometer, scale, note = input_layer(graph, nodes[:starts[0]], _pixels(input_range), input_range)
    layers = ([bnn.ImageInput(*in_shape[1:])] if image else []) + [thermometer]
    notes, output_map = [note], None
    for k, start in enumerate(starts):
        node, end = nodes[start], (starts[k + 1] if k + 1 < len(starts) else len(nodes))
        if node.op_type in CONV:
            if not image:
                raise UnsupportedModelError(f"{graph.path}: node {describe(node)} convolves a flattened tensor")
            layer, sum_scale = conv_layer(graph, node, scale)
            fan_in = layer.weight[0].numel()
            sizes, padded = (layer.in_channels, layer.out_channels), layer.padding > 0
        else:
            if image:
                layers.append(torch.nn.Flatten())
                image = False
            layer, sum_scale = dense_layer(graph, node, scale)
            fan_in, sizes, padded = layer.in_features, (layer.in_features, layer.out_features), False
        after = nodes[start + 1:end]
        pool_at = next((i for i, n in enumerate(after) if n.op_type in POOLS), len(after))
        for n in after[:pool_at]:
            check_elementwise(graph, n, sizes[1])
        work = elementwise(after[:pool_at])
        # every sum the layer can produce: 2p - N, or any integer in -N..N where zero padding drops terms
        dots = np.arange(-fan_in, fan_in + 1) if padded else 2 * np.arange(fan_in + 1) - fan_in
        sums = (dots[:, None] * sum_scale[None, :]).astype(np.float32)
        if work:   # a convolution's chain runs on (sums, channels, 1, 1): its constants broadcast as NCHW
            out = run_nodes(graph, work, sums.reshape(sums.shape + (1, 1) * image)).reshape(len(dots), -1)
        else:
            out = sums
        label = f"layer {len(layers)}: {describe(node)} {sizes[0]}x{sizes[1]}"
        layers.append(layer)
        if end == len(nodes):
            output_map = _scores_map(graph, layer, work, out)
            notes.append(f"{label}, integer scores" + (f"; the output's {' + '.join(n.op_type for n in work)} (one "
                                                        f"monotonic map for all classes) is kept as a table"
                                                        if work else ""))
            break
        misplaced = [n for n in after[pool_at:] if n.op_type not in POOLS | SHAPES]
        if misplaced:
            raise UnsupportedModelError(f"{graph.path}: node {describe(misplaced[0])} follows a max pooling; bnn-hw "
                                        f"imports a layer's activation (BatchNorm, a binarisation) before its pooling")
        threshold, scale = _activation(graph, work[-1] if work else node, dots, out)
        layers.append(threshold)
        notes.append(f"{label}, then {' + '.join(n.op_type for n in work)} as integer thresholds "
                     f"({int(threshold.invert.sum())} of {sizes[1]} channels falling)")
        layers += [pool_layer(graph, n) for n in after[pool_at:] if n.op_type in POOLS]
    model = torch.nn.Sequential(*layers).eval()
    return Imported(model, output_map, input_range, graph, notes)

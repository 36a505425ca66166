"""Frontend: a loaded bnn-hw model (``torch.nn.Sequential``) to the compiler IR.

Each layer becomes one node named after its kind and position in the Sequential (``dense1``,
``conv2``, ``batchnorm3``, ...), so error messages and folding files can name layers the way users see
them; layer 0 of the body of a :class:`~bnn_hw.nn.LogicShortcut` at position 3 is ``conv3_0``, and the
shortcut's join is ``xnor3`` (or ``or3``; ``add3`` for a :class:`~bnn_hw.nn.RealShortcut`), whose inputs are the body's last value and the value the
body started from. A RealShortcut with a :class:`~bnn_hw.nn.ShortcutBranch` (its layer 0) joins the
branch's last value instead: its nodes (``avgpool3_0_0``, ...) follow the body's. ``ImageInput`` declares the input image and ``Flatten`` makes no node: images stream
channels-last, so the BinaryLinear after a Flatten gets its weight columns reordered from PyTorch's
(channels, height, width) to (height, width, channels).
Each layer lowers through the function its op module registered for the layer's class
(:func:`bnn_hw.compiler.ops.base.lowers`), given a :class:`Lowering` context. Structural problems
(sizes that do not chain, a binary layer fed with real values, an unknown layer) raise
:class:`UnsupportedModelError` with one line naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .. import nn as bnn
from ..errors import ModelFileError, UnsupportedModelError
from .ir import Graph, Kind, Node, TensorType, ValidationError, validate
from .ops import LOWERINGS, ArgMax
from .ops.base import lowers

__all__ = ["from_model", "INPUT", "Lowering"]

INPUT = "pixels"


def _input_type(layers) -> TensorType:
    first = layers[0]
    if isinstance(first, bnn.ImageInput):
        if len(layers) > 1 and isinstance(layers[1], (bnn.Thermometer, bnn.PixelConv2d)):
            return TensorType((first.height, first.width, first.channels), Kind.UINT8, 8)
        return TensorType((first.height, first.width, first.channels), Kind.BITS)
    if any(isinstance(m, (bnn.BinaryConv2d, bnn.SparseBinaryConv2d, nn.MaxPool2d, nn.Flatten)) for m in layers):
        raise UnsupportedModelError("a convolutional model must start with bnn_hw.nn.ImageInput(channels, "
                                    "height, width), which declares the image size to build hardware for")
    dense = (bnn.BinaryLinear, bnn.SparseBinaryLinear)
    first_vector = next((m for m in layers if isinstance(m, dense + (bnn.LogicLayer,))), None)
    if first_vector is None:
        raise UnsupportedModelError("the model has no BinaryLinear, SparseBinaryLinear or LogicLayer layer; "
                                    "there is nothing to compile")
    name = type(first_vector).__name__
    features = first_vector.in_features if isinstance(first_vector, dense) else first_vector.in_bits
    if isinstance(first, bnn.Thermometer):
        k = len(first.thresholds)
        if features % k:
            raise UnsupportedModelError(
                f"layer 0 (Thermometer) makes {k} bits per pixel, but the first {name} takes "
                f"{features} inputs, not a multiple of {k}")
        return TensorType((features // k,), Kind.UINT8, 8)
    return TensorType((features,), Kind.BITS)


@dataclass
class Lowering:
    """What a layer's lowering function gets: where the layer stands and the value it applies to.

    ``label`` is the layer's position (``"3"``, or ``"3.0"`` inside a block); ``value`` names its
    input, of type ``in_type``; ``flattened`` says a Flatten came right before it. ``types`` and
    ``nodes`` are the graph so far (a block's lowering appends its body's nodes through :meth:`sequence`).
    """

    label: str
    layer: nn.Module
    value: str
    in_type: TensorType
    flattened: bool
    types: dict
    nodes: list

    @property
    def at_input(self) -> bool:
        """The layer reads the model's input."""
        return self.value == INPUT

    def node(self, kind: str, op, inputs: tuple[str, ...] | None = None) -> Node:
        """A node ``op`` named ``kind`` + the layer's position (``dense3``, ``conv3_0``) reading
        ``inputs`` (default: the layer's input)."""
        return Node(f"{kind}{self.label.replace('.', '_')}", op, inputs or (self.value,))

    def error(self, message: str) -> UnsupportedModelError:
        """A one-line error naming the layer."""
        return UnsupportedModelError(f"layer {self.label} ({type(self.layer).__name__}): {message}")

    def config(self) -> dict:
        """The layer's checked config (as the model file stores it)."""
        try:
            return bnn.layer_config(self.layer)[1]
        except ModelFileError as e:
            raise self.error(str(e)) from None

    def block(self, body: list, first: int = 0, branch: list | None = None) -> tuple[str, str]:
        """Lower a shortcut block's ``body`` (its layers from position ``first`` on) and its computing
        ``branch`` (None: the identity) on the layer's input; returns the values the join takes,
        ``(body's last, shortcut's last)``."""
        last = _sequence_nodes(body, f"{self.label}.", self.value, self.types, self.nodes, first)
        if branch is None:
            return last, self.value
        return last, _sequence_nodes(branch, f"{self.label}.0.", self.value, self.types, self.nodes)

    def shortcut_block(self) -> tuple[str, str]:
        """:meth:`block` for the layer, a shortcut block with an optional
        :class:`~bnn_hw.nn.ShortcutBranch` as its first layer (a RealShortcut, a ConcatShortcut)."""
        branch = self.layer.branch
        return self.block(self.layer.body, 0 if branch is None else 1, None if branch is None else list(branch))


@lowers(bnn.ImageInput)
def _image_input(layer, ctx: Lowering) -> list[Node]:
    if ctx.label != "0":
        raise ctx.error("must be the first layer")
    return []


@lowers(nn.Flatten, nn.Dropout, nn.Identity)
def _no_node(layer, ctx: Lowering) -> list[Node]:
    """Images stream channels-last, so a Flatten moves no data (the BinaryLinear after it reorders its
    weights); Dropout and Identity do nothing in eval mode."""
    return []


@lowers(bnn.ShortcutBranch)
def _misplaced_branch(layer, ctx: Lowering) -> list[Node]:
    raise ctx.error("must be the first layer of a RealShortcut or a ConcatShortcut")


def _sequence_nodes(layers, prefix: str, value: str, types: dict, nodes: list, first: int = 0) -> str:
    """Append the nodes of ``layers`` (labelled ``prefix`` + position, counted from ``first``)
    applied to ``value``, typing them into ``types``; returns the last value."""
    for index, layer in enumerate(layers):
        label = f"{prefix}{index + first}"
        flattened = index > 0 and isinstance(layers[index - 1], nn.Flatten)
        if flattened and not isinstance(layer, (bnn.BinaryLinear, bnn.SparseBinaryLinear, bnn.FixedPointLinear,
                                                bnn.LogicLayer)):
            raise UnsupportedModelError(f"layer {label} ({type(layer).__name__}): Flatten must be followed "
                                        f"directly by a BinaryLinear, a SparseBinaryLinear, a FixedPointLinear "
                                        f"or a LogicLayer")
        lowering = LOWERINGS.get(type(layer))
        if lowering is None:
            raise UnsupportedModelError(f"layer {label} ({type(layer).__name__}) is not supported; "
                                        f"bnn-hw supports {bnn.supported_layers()}")
        ctx = Lowering(label, layer, value, types[value], flattened, types, nodes)
        for node in lowering(layer, ctx):
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
            f"the model must end with integer scores (a BinaryLinear or FixedPointLinear, or a GroupSum after logic "
            f"layers), but its last "
            f"layer {len(layers) - 1} ({type(layers[-1]).__name__}) gives {last.kind.value} values")
    nodes.append(Node("argmax", ArgMax(), (value,)))
    try:
        return validate(Graph(inputs, tuple(nodes), (value, "argmax")))
    except ValidationError as e:
        raise UnsupportedModelError(str(e)) from None

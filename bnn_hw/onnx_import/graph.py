"""A QONNX file as the importer reads it: loaded, cleaned up with ``qonnx``'s passes, and walked as
one chain of nodes from the input to the output.

Nothing in the file runs as code: ONNX is a protobuf of nodes and tensors, and every node the
importer evaluates is executed by ``qonnx`` (its own implementations of the QONNX operators,
ONNX Runtime for the standard ones), the ecosystem's golden model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import ModelFileError, UnsupportedModelError

__all__ = ["QonnxGraph", "require_qonnx", "describe"]

#: What to install when the importer's packages are missing.
INSTALL_HINT = "install the importer's packages: pip install 'bnn-hw[onnx]'"


def require_qonnx():
    """Import and return ``qonnx``'s model wrapper module, or a one-line error saying what to install."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        from qonnx.core import modelwrapper
    except ImportError as e:
        raise UnsupportedModelError(f"importing ONNX needs onnx, onnxruntime and qonnx ({e.name} is "
                                    f"missing); {INSTALL_HINT}") from None
    return modelwrapper


def describe(node) -> str:
    """``name (OpType)`` of a node, for messages."""
    return f"{node.name or node.output[0]} ({node.op_type})"


def _cleaned(wrapper):
    """``qonnx``'s cleanup (``qonnx.util.cleanup.cleanup_model``: shape inference, constant folding
    that keeps the quantizers, static inputs removed) without its renaming, so messages name the
    nodes as the file does; a graph with a symbolic batch size gets batch 1."""
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (GiveUniqueParameterTensors, RemoveStaticGraphInputs,
                                              RemoveUnusedTensors)
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    for node in wrapper.graph.node:   # what cleanup_model does first: QONNX operators in their domain
        if node.op_type in ("Quant", "Trunc", "BipolarQuant"):
            node.domain = "qonnx.custom_op.general"
    batch = wrapper.graph.input[0].type.tensor_type.shape.dim[:1]
    if batch and batch[0].dim_value != 1:   # a symbolic or larger batch: one frame, as the golden model runs
        wrapper = wrapper.transform(ChangeBatchSize(1))
    for transform in (InferShapes(), GiveUniqueParameterTensors(),
                      FoldConstants(exclude_op_types=["Quant", "BipolarQuant", "QuantizeLinear", "DequantizeLinear"]),
                      FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs()):
        wrapper = wrapper.transform(transform)
    return wrapper


@dataclass
class QonnxGraph:
    """A cleaned-up QONNX model (``qonnx.core.modelwrapper.ModelWrapper``) and the file it came from."""

    wrapper: object
    path: str

    @classmethod
    def load(cls, path: str | os.PathLike) -> "QonnxGraph":
        """Read ``path`` and clean it up with ``qonnx``'s passes (:func:`_cleaned`); one-line errors
        for a missing, damaged or foreign file."""
        path = os.fspath(path)
        modelwrapper = require_qonnx()
        import onnx

        if not os.path.isfile(path):
            raise ModelFileError(f"{path}: no such file")
        try:
            proto = onnx.load(path)
        except Exception as e:   # protobuf raises DecodeError and others on damaged files
            raise ModelFileError(f"{path}: not an ONNX model or truncated ({type(e).__name__}); export it "
                                 f"again (brevitas.export.export_qonnx)") from None
        if not proto.graph.node:
            raise ModelFileError(f"{path}: the ONNX graph has no nodes")
        try:
            wrapper = _cleaned(modelwrapper.ModelWrapper(proto))
        except Exception as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UnsupportedModelError(f"{path}: qonnx could not clean the graph up: {first[:200]}") from None
        graph = cls(wrapper, path)
        if len(wrapper.graph.input) != 1 or len(wrapper.graph.output) != 1:
            raise UnsupportedModelError(f"{path}: the graph has {len(wrapper.graph.input)} inputs and "
                                        f"{len(wrapper.graph.output)} outputs; bnn-hw imports one of each")
        return graph

    # -- tensors and nodes ------------------------------------------------------------------------

    @property
    def input_name(self) -> str:
        return self.wrapper.graph.input[0].name

    @property
    def output_name(self) -> str:
        return self.wrapper.graph.output[0].name

    def shape(self, tensor: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.wrapper.get_tensor_shape(tensor))

    def producer(self, tensor: str):
        return self.wrapper.find_producer(tensor)

    def consumers(self, tensor: str) -> list:
        return list(self.wrapper.find_consumers(tensor) or [])

    def is_constant(self, tensor: str) -> bool:
        """The tensor depends on no graph input (an initializer, or computed from initializers only)."""
        if tensor == "" or self.wrapper.get_initializer(tensor) is not None:
            return True
        node = self.producer(tensor)
        return node is not None and all(self.is_constant(t) for t in node.input)

    def constant(self, tensor: str) -> np.ndarray:
        """The value of a constant tensor, its producers executed by ``qonnx`` if it is not an
        initializer (a weight quantizer's output)."""
        value = self.wrapper.get_initializer(tensor)
        if value is not None:
            return np.asarray(value)
        from qonnx.core.onnx_exec import execute_node

        node = self.producer(tensor)
        context = {t: self.constant(t) for t in node.input if t}
        for out in node.output:
            context[out] = np.zeros(self.shape(out), np.float32)
        execute_node(node, context, self.wrapper.graph, self.opset())
        return np.asarray(context[tensor])

    def opset(self) -> int:
        return next((o.version for o in self.wrapper.model.opset_import if o.domain in ("", "ai.onnx")), 11)

    def data_input(self, node) -> str:
        """The one input of ``node`` that is not constant; an error naming the node if it has several."""
        data = [t for t in node.input if not self.is_constant(t)]
        if len(data) != 1:
            raise UnsupportedModelError(f"{self.path}: node {describe(node)} joins {len(data)} computed "
                                        f"tensors; bnn-hw imports a chain of layers (no branches)")
        return data[0]

    def chain(self) -> list:
        """The nodes from the graph's input to its output, in order, each reading the one before
        (constant subgraphs, such as weight quantizers, are not in it); an error for a branch."""
        nodes, tensor = [], self.input_name
        while tensor != self.output_name:
            readers = self.consumers(tensor)
            if len(readers) != 1:
                raise UnsupportedModelError(
                    f"{self.path}: tensor {tensor!r} is read by {len(readers)} nodes; bnn-hw imports a "
                    f"chain of layers (no branches or dead ends)")
            node = readers[0]
            self.data_input(node)
            if len(node.output) != 1:
                raise UnsupportedModelError(f"{self.path}: node {describe(node)} has {len(node.output)} "
                                            f"outputs; bnn-hw imports nodes with one")
            nodes.append(node)
            tensor = node.output[0]
        return nodes

"""QONNX graphs for the importer's tests: FINN's LFC topology exported by Brevitas with adversarial
BatchNorm statistics, and small graphs written node by node for what Brevitas does not export."""

from __future__ import annotations

import numpy as np
import torch

#: QONNX's custom operator domain.
QONNX = "qonnx.custom_op.general"


def brevitas_lfc(path, features: int = 784, hidden=(24, 16), *, seed: int = 0, norm_sign: float = 1.0):
    """BNN-PYNQ's FC network (Brevitas's own ``brevitas_examples`` definition, W1A1 with 1-bit
    input) on ``features`` pixels, random weights, BatchNorm statistics that put ties on the layers'
    sums (``mean`` an attainable sum, ``beta`` 0) with negative and zero scales, and a TensorNorm
    whose scale has the sign ``norm_sign``; exported to ``path`` with ``export_qonnx``. Returns the model."""
    from brevitas.export import export_qonnx
    from brevitas_examples.bnn_pynq.models.FC import FC

    side = int(np.sqrt(features))
    g = torch.Generator().manual_seed(seed)
    model = FC(num_classes=10, weight_bit_width=1, act_bit_width=1, in_bit_width=1, in_channels=1,
               out_features=list(hidden), in_features=(side, features // side))
    fan_in = features
    with torch.no_grad():
        for layer in model.features:
            if isinstance(layer, torch.nn.BatchNorm1d):
                c = layer.num_features
                # every second channel ties exactly at an attainable sum (same parity as fan_in)
                tie = 2 * torch.randint(0, fan_in + 1, (c,), generator=g) - fan_in
                layer.running_mean.copy_(torch.where(torch.arange(c) % 2 == 0, tie.float(),
                                                     torch.randn(c, generator=g) * fan_in ** 0.5))
                layer.running_var.copy_(torch.rand(c, generator=g) * fan_in + 1)
                layer.weight.copy_(torch.randn(c, generator=g))
                layer.weight[:2] = 0.0
                layer.bias.copy_(torch.where(torch.arange(c) % 2 == 0, 0.0, torch.randn(c, generator=g)))
                fan_in = c
            elif hasattr(layer, "running_mean"):     # the TensorNorm
                layer.running_mean.fill_(float(torch.randn(1, generator=g)) * 3)
                layer.running_var.fill_(float(torch.rand(1, generator=g)) * 30 + 1)
                layer.weight.fill_(norm_sign * (0.1 + float(torch.rand(1, generator=g))))
                layer.bias.fill_(float(torch.randn(1, generator=g)))
    model.eval()
    export_qonnx(model, torch.rand(1, 1, side, features // side), str(path))
    return model


def write_graph(path, nodes, initializers: dict, in_shape, out_shape) -> None:
    """An ONNX file of ``nodes`` (made with ``onnx.helper.make_node``) from ``x`` to ``y``."""
    from onnx import TensorProto, helper, numpy_helper, save

    graph = helper.make_graph(
        nodes, "test", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX, 1)]),
         str(path))


def node(op: str, inputs: list[str], output: str, **attrs):
    """A node named after its output; QONNX's own operators in their domain."""
    from onnx import helper

    custom = op in ("BipolarQuant", "Quant", "MultiThreshold", "Trunc")
    return helper.make_node(op, inputs, [output], name=f"{op}_{output}", domain=QONNX if custom else "", **attrs)


def signs(rng: np.random.Generator, shape) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(np.float32)

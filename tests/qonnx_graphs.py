"""QONNX graphs for the importer's tests: FINN's LFC topology exported by Brevitas with adversarial
BatchNorm statistics, and small graphs written node by node for what Brevitas does not export."""

from __future__ import annotations

import numpy as np
import torch

#: QONNX's custom operator domain.
QONNX = "qonnx.custom_op.general"


def brevitas_lfc(path, features: int = 784, hidden=(24, 16), *, seed: int = 0, norm_sign: float = 1.0,
                 dynamo: bool = True):
    """BNN-PYNQ's FC network (Brevitas's own ``brevitas_examples`` definition, W1A1 with 1-bit
    input) on ``features`` pixels, random weights, BatchNorm statistics that put ties on the layers'
    sums (``mean`` an attainable sum, ``beta`` 0) with negative and zero scales, and a TensorNorm
    whose scale has the sign ``norm_sign``; exported to ``path`` with ``export_qonnx``, by its
    ``torch.export`` path or (``dynamo`` False) the TorchScript one older Brevitas used. Returns the model."""
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
                _adversarial_batchnorm(layer, fan_in, g, padded=False)
                fan_in = layer.num_features
            elif hasattr(layer, "running_mean"):     # the TensorNorm
                layer.running_mean.fill_(float(torch.randn(1, generator=g)) * 3)
                layer.running_var.fill_(float(torch.rand(1, generator=g)) * 30 + 1)
                layer.weight.fill_(norm_sign * (0.1 + float(torch.rand(1, generator=g))))
                layer.bias.fill_(float(torch.randn(1, generator=g)))
    model.eval()
    export_qonnx(model, torch.rand(1, 1, side, features // side), str(path), dynamo=dynamo)
    return model


def _adversarial_batchnorm(layer, fan_in: int, g: torch.Generator, *, padded: bool) -> None:
    """Statistics that tie exactly at attainable sums on every second channel (``beta`` 0), with
    negative and zero scales."""
    c = layer.num_features
    sums = torch.randint(-fan_in, fan_in + 1, (c,), generator=g) if padded else \
        2 * torch.randint(0, fan_in + 1, (c,), generator=g) - fan_in
    layer.running_mean.copy_(torch.where(torch.arange(c) % 2 == 0, sums.float(),
                                         torch.randn(c, generator=g) * fan_in ** 0.5))
    layer.running_var.copy_(torch.rand(c, generator=g) * fan_in + 1)
    layer.weight.copy_(torch.randn(c, generator=g))
    layer.weight[:2] = 0.0
    layer.bias.copy_(torch.where(torch.arange(c) % 2 == 0, 0.0, torch.randn(c, generator=g)))


def brevitas_cnn(path, image=(1, 10, 10), convs=((6, 3, 1, 1, True), (8, 3, 0, 1, False)), hidden=(12,),
                 classes: int = 5, *, seed: int = 0):
    """A small CNV-like Brevitas network, W1A1 with BNN-PYNQ's quantizers: binarised pixels, then
    ``convs`` of (out_channels, kernel, padding, groups, max-pool 2 after), binary dense ``hidden``
    layers and a binary classifier, each hidden one with BatchNorm (ties planted) and a binary
    activation; exported to ``path``. Returns the model."""
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
    from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant

    g = torch.Generator().manual_seed(seed)
    act = dict(act_quant=CommonActQuant, bit_width=1)
    layers = [QuantIdentity(**act)]
    channels, side = image[0], image[1]
    with torch.no_grad():
        for out, kernel, padding, groups, pool in convs:
            conv = QuantConv2d(channels, out, kernel, padding=padding, groups=groups, bias=False,
                               weight_quant=CommonWeightQuant, weight_bit_width=1)
            bn = torch.nn.BatchNorm2d(out)
            conv.weight.normal_(generator=g)
            _adversarial_batchnorm(bn, channels // groups * kernel * kernel, g, padded=padding > 0)
            layers += [conv, bn, QuantIdentity(**act)] + ([torch.nn.MaxPool2d(2)] if pool else [])
            channels, side = out, (side + 2 * padding - kernel + 1) // (2 if pool else 1)
        layers.append(torch.nn.Flatten())
        features = channels * side * side
        for h in hidden:
            dense = QuantLinear(features, h, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1)
            bn = torch.nn.BatchNorm1d(h)
            dense.weight.normal_(generator=g)
            _adversarial_batchnorm(bn, features, g, padded=False)
            layers += [dense, bn, QuantIdentity(**act)]
            features = h
        last = QuantLinear(features, classes, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1)
        last.weight.normal_(generator=g)
    model = torch.nn.Sequential(_Centred(), *layers, last).eval()
    export_qonnx(model, torch.rand(1, *image), str(path))
    return model


class _Centred(torch.nn.Module):
    """``2x - 1``, as BNN-PYNQ's models start."""

    def forward(self, x):
        return 2.0 * x - 1.0


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

"""Convolutional models: the NumPy reference of the compiled graph equals PyTorch, bit for bit.

Property-based (hypothesis): random small CNNs with odd shapes, every padding value, strides 1 and 2,
groups, scales, max-pools and adversarial BatchNorm statistics.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnn_hw.compiler.frontend import from_model
from bnn_hw.compiler.ops import BinaryConv2d
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.reference import execute
from bnn_hw.errors import UnsupportedModelError
from conftest import random_cnn, torch_scores


@st.composite
def cnn_configs(draw):
    channels = draw(st.integers(1, 3))
    height, width = draw(st.integers(3, 11)), draw(st.integers(3, 11))
    convs, pools = [], []
    # () feeds bits, else 8-bit pixels into a thermometer, or into a PixelConv2d (pixels)
    thresholds = draw(st.sampled_from([(), (128,), (90, 170), "pixels"]))
    pixels = thresholds == "pixels"
    thresholds = () if pixels else thresholds
    c, h, w = channels * max(1, len(thresholds)), height, width
    for index in range(draw(st.integers(1, 3))):
        kernel = draw(st.sampled_from([1, 3, 5]))
        padding = draw(st.integers(0, kernel // 2 + 1))
        stride = draw(st.sampled_from([1, 2]))
        ho, wo = (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1
        if ho < 1 or wo < 1:
            break
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0 and (g == 1 or convs or not pixels)]))
        out = groups * draw(st.integers(1, 5))
        borders = [-1, 0, 1] + (["replicate"] if padding < kernel and (convs or not pixels) else [])
        convs.append((out, kernel, stride, padding, draw(st.sampled_from(borders)), groups))
        c, h, w = out, ho, wo
        if h >= 2 and w >= 2 and draw(st.booleans()):
            pools.append(index)
            h, w = h // 2, w // 2
    if not convs:
        convs.append((2, 1, 1, 0, -1, 1))
    return dict(image=(channels, height, width), convs=tuple(convs), pools=tuple(pools),
                hidden=tuple(draw(st.lists(st.integers(1, 9), max_size=1))), classes=draw(st.integers(2, 5)),
                thresholds=thresholds, pixels=pixels,
                scale=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


def _inputs(model, config, n, seed):
    rng = np.random.default_rng(seed)
    c, h, w = config["image"]
    high = 256 if config["thresholds"] or config["pixels"] else 2
    return rng.integers(0, high, (n, h, w, c)).astype(np.uint8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cnn_configs())
def test_reference_equals_pytorch_on_random_cnns(config):
    model = random_cnn(**config)
    x = _inputs(model, config, 16, config["seed"])
    expected = torch_scores(model, x if config["thresholds"] or config["pixels"] else 2.0 * x - 1)
    # before streamlining: real-valued BatchNorm ops run as PyTorch does
    graph = from_model(model)
    assert np.array_equal(execute(graph, x)[graph.outputs[0]], expected)
    classes, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, expected)
    assert np.array_equal(classes, expected.argmax(1))


def test_zero_padding_gets_one_threshold_table_per_border_class():
    model = random_cnn(image=(1, 6, 5), convs=((3, 3, 1, 1, 0, 1),), thresholds=(128,))
    conv = compile_model(model).graph.nodes[1].op
    assert isinstance(conv, BinaryConv2d)
    class_of, corrections = conv.border_classes(6, 5)
    assert conv.thresholds.shape == (9, 3, 1) and corrections.shape == (9, 3)
    assert len(np.unique(class_of)) == 9  # 4 corners, 4 edges, the interior
    interior = class_of[2, 2]
    assert not corrections[interior].any()


def test_flatten_reorders_dense_weights_to_channels_last():
    model = random_cnn(image=(1, 4, 4), convs=((3, 1, 1, 0, -1, 1),), hidden=(), thresholds=())
    x = np.random.default_rng(0).integers(0, 2, (8, 4, 4, 1)).astype(np.uint8)
    _, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, torch_scores(model, 2.0 * x - 1))


@pytest.mark.parametrize("layers, message", [
    ("no-image-input", "must start with bnn_hw.nn.ImageInput"),
    ("pool-on-reals", "max-pool is an OR of bits"),
])
def test_unsupported_convolutional_models_get_one_line(layers, message):
    import torch
    from bnn_hw import nn as bnn
    if layers == "no-image-input":
        model = torch.nn.Sequential(bnn.BinaryConv2d(1, 2, 3), torch.nn.Flatten(), bnn.BinaryLinear(2, 2))
    else:
        model = torch.nn.Sequential(bnn.ImageInput(1, 4, 4), bnn.BinaryConv2d(1, 2, 3), torch.nn.MaxPool2d(2),
                                    torch.nn.Flatten(), bnn.BinaryLinear(2, 2))
    with pytest.raises(UnsupportedModelError, match=message):
        compile_model(model.eval())

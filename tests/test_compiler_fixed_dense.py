"""FixedPointLinear, the 8-bit last layer on +-1 inputs: integer scores equal to PyTorch's, in the
reference and the pipeline under stalls, with folded and full lanes; saved and loaded; bad models
refused in one line."""

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.ops import Fold, FixedDense
from bnn_hw.errors import UnsupportedModelError
from conftest import random_cnn, random_mlp, torch_scores, with_fixed_last
from test_compiler_blocks import _images, _simulate

FEATURES = 20


def _frames(model, n, seed):
    """Random 8-bit inputs for ``model``: images after an ImageInput, else FEATURES values."""
    if isinstance(model[0], bnn.ImageInput):
        return _images(model, n, seed)
    return np.random.default_rng(seed).integers(0, 256, (n, FEATURES), dtype=np.uint8)


@pytest.mark.parametrize("weight_bits", [2, 8, 12])
def test_scores_are_the_integer_weights_times_the_inputs(weight_bits):
    model = with_fixed_last(random_mlp(FEATURES, [13], 5, seed=weight_bits), weight_bits, seed=weight_bits)
    weights = model[-1].integer_weight().detach()
    lo, hi = model[-1].weight_range
    assert torch.equal(weights, weights.round()) and weights.min() == lo and weights.max() == hi
    x = _frames(model, 300, 2)
    plan = compile_model(model)
    assert any(isinstance(n.op, FixedDense) for n in plan.graph.nodes)
    classes, scores = plan.predict(x)
    assert (scores == torch_scores(model, x)).all()
    assert (classes == torch_scores(model, x).argmax(1)).all()


def test_after_a_flattened_image_the_columns_follow_the_stream():
    model = with_fixed_last(random_cnn(seed=4), seed=4)
    x = _images(model, 200, 4)
    assert (compile_model(model).predict(x)[1] == torch_scores(model, x)).all()


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_right_after_a_flatten_it_takes_the_image_as_one_vector(stall):
    """BNext's head: the pooled bits of the last block straight into the 8-bit layer."""
    cnn = random_cnn(seed=7)
    flatten = next(i for i, layer in enumerate(cnn) if isinstance(layer, torch.nn.Flatten))
    features = cnn[flatten + 1].in_features
    model = with_fixed_last(torch.nn.Sequential(*cnn[:flatten + 1], bnn.BinaryLinear(features, 4)), seed=7)
    plan = compile_model(model)
    frames = _images(model, 3, 7)
    classes, scores = plan.predict(frames)
    assert (scores == torch_scores(model, _images(model, 3, 7))).all()
    assert (plan.predict(_images(model, 200, 8))[1] == torch_scores(model, _images(model, 200, 8))).all()
    got = _simulate(plan, frames, stall, seed=5)
    assert [g[0] for g in got] == list(classes) and all((g[1] == s).all() for g, s in zip(got, scores))


@pytest.mark.parametrize("fold", [None, Fold(2, 4), Fold(5, 13)])
@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_pipeline_is_bit_exact_under_random_stalls(fold, stall):
    model = with_fixed_last(random_mlp(FEATURES, [13], 5, seed=5), seed=5)
    plan = compile_model(model, {} if fold is None else {"dense4": fold})
    frames = _frames(model, 3, 1)
    classes, scores = plan.predict(frames)
    got = _simulate(plan, frames, stall, seed=3)
    assert [g[0] for g in got] == list(classes) and all((g[1] == s).all() for g, s in zip(got, scores))


def test_save_and_load(tmp_path):
    model = with_fixed_last(random_mlp(FEATURES, [13], 5, seed=6), seed=6)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    x = _frames(model, 50, 6)
    assert loaded[-1].weight_bits == 8 and (torch_scores(loaded, x) == torch_scores(model, x)).all()


def test_bad_arguments_fail_in_one_line():
    with pytest.raises(ValueError, match="weight_bits must be an integer in 2..16"):
        bnn.FixedPointLinear(4, 2, 1)
    with pytest.raises(ValueError, match="could sum past 2\\*\\*24"):
        bnn.FixedPointLinear(1 << 17, 2, 8)


@pytest.mark.parametrize("layers, message", [
    ([bnn.Thermometer([128]), bnn.BinaryLinear(16, 8), torch.nn.BatchNorm1d(8), bnn.Sign(),
      bnn.FixedPointLinear(8, 4), torch.nn.BatchNorm1d(4), bnn.Sign(), bnn.BinaryLinear(4, 2)],
     "gives the network's integer scores"),
    ([bnn.ImageInput(1, 4, 4), bnn.Thermometer([128]), bnn.FixedPointLinear(16, 2)], "needs a Flatten"),
])
def test_unsupported_models_get_one_line(layers, message):
    with pytest.raises(UnsupportedModelError, match=message) as e:
        compile_model(torch.nn.Sequential(*layers).eval())
    assert "\n" not in str(e.value)

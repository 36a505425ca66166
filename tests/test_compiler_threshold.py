"""The Threshold layer (activations already folded to integers): PyTorch == reference after every
kind of layer it may follow, its model-file checks, and its folding at the edges of the sum range."""

import numpy as np
import pytest
import torch

import bnn_hw
from bnn_hw import nn as bnn
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.ops import Threshold
from bnn_hw.compiler.thresholds import fold_thresholds
from bnn_hw.errors import ModelFileError
from conftest import random_mlp, random_sparse_mlp, torch_scores


def _random_thresholds(layer: bnn.Threshold, bound: int, g: torch.Generator) -> bnn.Threshold:
    """Thresholds all over ``-bound - 2 .. bound + 2`` (constant channels too), half the channels inverted."""
    with torch.no_grad():
        layer.thresholds.copy_(torch.randint(-bound - 2, bound + 3, (layer.channels,), generator=g))
        layer.invert.copy_(torch.rand(layer.channels, generator=g) < 0.5)
    return layer


def _with_thresholds(model: torch.nn.Sequential, seed: int) -> torch.nn.Sequential:
    """``model`` with each BatchNorm + Sign replaced by a random Threshold on the layer's sums."""
    g = torch.Generator().manual_seed(seed)
    layers, fan_in = [], None
    for layer in model:
        if isinstance(layer, (bnn.BinaryLinear, bnn.BinaryConv2d)):
            fan_in = layer.weight[0].numel()
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layers.append(_random_thresholds(bnn.Threshold(layer.num_features), fan_in, g))
        elif not isinstance(layer, bnn.Sign):
            layers.append(layer)
    return torch.nn.Sequential(*layers).eval()


@pytest.mark.parametrize("seed", range(4))
def test_threshold_mlp_matches_pytorch(seed, rng):
    model = _with_thresholds(random_mlp(21, [33, 17], 6, seed=seed), seed)
    x = rng.integers(0, 256, (300, 21), dtype=np.uint8)
    _, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, torch_scores(model, x))


@pytest.mark.parametrize("seed", range(3))
def test_threshold_after_a_sparse_layer_matches_pytorch(seed, rng):
    """A sparse layer's sums lie on its fixed-point grid, not on the integers: the integer thresholds
    (around the sums' medians, half the channels inverted) fold all the same."""
    sparse_model = random_sparse_mlp(20, [16], 5, seed=seed)
    x = rng.integers(0, 256, (300, 20), dtype=np.uint8)
    with torch.no_grad():
        sums = sparse_model[:2](torch.from_numpy(x).float())
    threshold = bnn.Threshold(16)
    with torch.no_grad():
        threshold.thresholds.copy_(sums.median(0).values.round().long())
        threshold.invert[::2] = True
    model = torch.nn.Sequential(sparse_model[0], sparse_model[1], threshold, sparse_model[4]).eval()
    _, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, torch_scores(model, x))


def test_threshold_cnn_with_padding_matches_pytorch(rng):
    g = torch.Generator().manual_seed(5)
    conv = bnn.BinaryConv2d(3, 6, 3, padding=1, pad_value=-1)
    last = bnn.BinaryLinear(6 * 4 * 4, 4)
    with torch.no_grad():
        conv.weight.normal_(generator=g)
        last.weight.normal_(generator=g)
    model = torch.nn.Sequential(bnn.ImageInput(1, 8, 8), bnn.Thermometer([60, 120, 180]), conv,
                                _random_thresholds(bnn.Threshold(6), 27, g), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), last).eval()
    x = rng.integers(0, 256, (100, 64), dtype=np.uint8)
    _, scores = compile_model(model).predict(x)
    assert np.array_equal(scores, torch_scores(model, x))


def test_fold_reads_inverted_and_constant_channels():
    # N = 4: dot = 2p - 4 in -4..4. Channel 0: dot >= 0 (p >= 2); channel 1: inverted, dot < 2
    # (p <= 2, flipped: 4 - p >= 2); channels 2 and 3: never, always.
    op = Threshold(np.array([0, 2, 5, -5]), np.array([False, True, False, False]))
    (thresholds,), flip = fold_thresholds(4, 4, [op])
    assert flip.tolist() == [False, True, False, False]
    assert thresholds.tolist() == [[2], [2], [5], [0]]


def test_model_file_round_trip_and_checks(tmp_path):
    layer = _random_thresholds(bnn.Threshold(5), 10, torch.Generator().manual_seed(0))
    model = torch.nn.Sequential(bnn.BinaryLinear(10, 5), layer)
    bnn_hw.save(model, tmp_path / "net.pt")
    loaded = bnn_hw.load(tmp_path / "net.pt")
    assert torch.equal(loaded[1].thresholds, layer.thresholds) and torch.equal(loaded[1].invert, layer.invert)

    data = torch.load(tmp_path / "net.pt", weights_only=True)
    data["state_dict"]["1.thresholds"] = torch.full((5,), 1 << 25)
    torch.save(data, tmp_path / "far.pt")
    with pytest.raises(ModelFileError, match=r"layer 1 \(Threshold\): thresholds must lie within"):
        bnn_hw.load(tmp_path / "far.pt")
    data["state_dict"]["1.thresholds"] = torch.zeros(5)
    torch.save(data, tmp_path / "float.pt")
    with pytest.raises(ModelFileError, match="'thresholds' has dtype float32, expected int64"):
        bnn_hw.load(tmp_path / "float.pt")


def test_channel_count_is_checked():
    with pytest.raises(ValueError, match="Threshold has 3 channels but its input has 4"):
        bnn.Threshold(3)(torch.zeros(2, 4))

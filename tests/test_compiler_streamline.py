"""Streamlining folds BatchNorm + sign into integer thresholds exactly as PyTorch computes them."""

import numpy as np
import pytest
import torch

from bnn_hw import nn as bnn
from bnn_hw.compiler.frontend import from_model
from bnn_hw.compiler.ops import BatchNorm, BinaryDense, Sign
from bnn_hw.compiler import compile_model
from bnn_hw.compiler.reference import execute
from bnn_hw.compiler.streamline import streamline
from bnn_hw.compiler.thresholds import fold_thresholds
from conftest import random_mlp, torch_scores


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("scale", [False, True])
def test_random_networks_match_pytorch(seed, scale, rng):
    model = random_mlp(23, [37, 11], 10, seed=seed, scale=scale)
    x = rng.integers(0, 256, (300, 23), dtype=np.uint8)
    classes, scores = compile_model(model).predict(x)
    expected = torch_scores(model, x)
    assert np.array_equal(scores, expected)
    assert np.array_equal(classes, expected.argmax(axis=1))


def test_streamlined_graph_equals_unstreamlined_graph(rng):
    model = random_mlp(19, [29], 7, seed=3, scale=True)
    graph = from_model(model)
    x = rng.integers(0, 256, (200, 19), dtype=np.uint8)
    before, after = execute(graph, x), execute(streamline(graph), x)
    assert np.array_equal(before[graph.outputs[0]], after[graph.outputs[0]])
    assert not any(isinstance(n.op, (BatchNorm, Sign)) for n in streamline(graph).nodes)


def _bn(mean, weight, bias, var=1.0 - 1e-5):
    m = len(mean)
    return BatchNorm(np.array(mean, np.float32), np.full(m, var, np.float32),
                     np.array(weight, np.float32), np.array(bias, np.float32), 1e-5)


def test_tie_counts_as_plus_one_for_both_signs_of_scale():
    # N = 8: dot = 2p - 8. mean 2 puts the BN output at exactly 0.0 (or -0.0) for p = 5.
    (thresholds,), flip = fold_thresholds(8, 2, [_bn([2, 2], [1, -1], [0, 0]), Sign()])
    # Positive scale: bit = dot >= 2 = p >= 5.
    assert not flip[0] and thresholds[0] == 5
    # Negative scale: bit = -(dot - 2) >= 0 = p <= 5; flipped, p' = 8 - p >= 3.
    assert flip[1] and thresholds[1] == 3


def test_zero_scale_gives_constant_channels():
    (thresholds,), flip = fold_thresholds(6, 3, [_bn([0, 0, 0], [0, 0, 0], [0.5, -0.5, 0.0]), Sign()])
    n = 6
    assert thresholds[0] == 0          # always +1
    assert thresholds[1] == n + 1      # always -1
    assert thresholds[2] == 0          # beta = 0: sign(0) = +1


def test_exact_ties_through_the_whole_model():
    """Inputs built so that BN outputs land exactly on 0 still match PyTorch bit for bit."""
    n, m = 16, 4
    dense = bnn.BinaryLinear(n, m)
    bn = torch.nn.BatchNorm1d(m)
    last = bnn.BinaryLinear(m, 3)
    with torch.no_grad():
        dense.weight.copy_(torch.ones(m, n))
        bn.running_mean.copy_(torch.tensor([0.0, 2.0, -4.0, 6.0]))  # reachable dot values
        bn.running_var.fill_(1 - 1e-5)
        bn.weight.copy_(torch.tensor([1.0, -1.0, 3.0, -0.5]))
        bn.bias.zero_()
        last.weight.normal_()
    model = torch.nn.Sequential(dense, bn, bnn.Sign(), last).eval()
    # dot = sum of x (all weights +1): choose inputs with every even dot value in -16..16.
    x = np.array([[1] * k + [0] * (n - k) for k in range(n + 1)], np.uint8)
    plan = compile_model(model)
    classes, scores = plan.predict(x)
    assert np.array_equal(scores, torch_scores(model, 2.0 * x - 1))
    dense_op = plan.graph.node("dense0").op
    assert isinstance(dense_op, BinaryDense) and dense_op.thresholds is not None

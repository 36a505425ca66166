"""The NumPy reference equals the PyTorch model on the full Fashion-MNIST test set."""

import json
from pathlib import Path

import numpy as np
import pytest

import bnn_hw
from bnn_hw.compiler.ops import BinaryDense
from bnn_hw.compiler import compile_model
from bnn_hw.datasets import fashion_mnist
from conftest import torch_scores

SHIPPED = Path(__file__).parent.parent / "examples" / "fmnist_mlp" / "net.pt"


def test_shipped_model_matches_pytorch_on_all_10000_test_images():
    model = bnn_hw.load(SHIPPED)
    images, labels = fashion_mnist("test")
    assert len(images) == 10_000
    classes, scores = compile_model(model).predict(images)
    expected = torch_scores(model, images)
    assert np.array_equal(scores, expected)
    assert np.array_equal(classes, expected.argmax(axis=1))
    # the accuracy the example's training run recorded (as every shipped model's test checks it)
    metrics = json.loads((SHIPPED.parent / "metrics.json").read_text())
    assert metrics["test_images"] == len(labels)
    assert (classes == labels).mean() == pytest.approx(metrics["test_accuracy"], abs=1e-9)


def test_popcount_packing_with_odd_sizes(rng):
    for n in (1, 7, 63, 64, 65, 130):
        w = rng.integers(0, 2, (5, n), dtype=np.uint8)
        x = rng.integers(0, 2, (9, n), dtype=np.uint8)
        expected = (x[:, None, :] == w[None, :, :]).sum(axis=-1)
        assert np.array_equal(BinaryDense(w).popcounts(x), expected)
        assert np.array_equal(BinaryDense(w).reference(x), 2 * expected - n)
